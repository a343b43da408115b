export { CONTRACTS, parseCgiOutput } from "./contracts/index.js";
export { HybridExecutor, type HybridExecutorOptions } from "./executor.js";
export { Runtime, type RuntimeOptions, runLimits } from "./service.js";
export type * from "./types.js";
