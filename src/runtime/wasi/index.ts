export { BLOCKING_CONTROL, encodeStrings, type HostControl } from "./context.js";
export { FsImage, type FsImageExtras } from "./fs-image.js";
export type { WasiImports } from "./imports.js";
export { runFreshInstance } from "./run-fresh.js";
export { WasiExit } from "./wasi-exit.js";
export { WasiHost, type WasiHostOptions } from "./wasi-host.js";
