export * from "./builders.js";
export * from "./digest.js";
export * from "./errors.js";
export { INVOCATION_PREFIX, invocationId, nextInvocation } from "./ids.js";
export * from "./names.js";
export * from "./preopens.js";
export * from "./serve-defaults.js";
export * from "./types.js";
export * from "./url.js";
