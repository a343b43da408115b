export {
  type ApplyIo,
  type ApplyOptions,
  type ApplyResult,
  applySpecs,
  destroySpecs,
  specStates,
} from "./apply.js";
export { type LoadedSpecs, loadSpecs } from "./load.js";
export * from "./types.js";
export { specDocument, writeSpec } from "./write.js";
