export { ERRNO, FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE, FILETYPE_SYMBOLIC_LINK } from "./constants.js";
export { BLOCKING_CONTROL, encodeStrings, type HostControl } from "./context.js";
export { FsImage, type FsImageExtras, type NodeTime } from "./fs-image.js";
export type { WasiImports } from "./imports.js";
export { MountLayer, type MountMap } from "./mounts.js";
export { type AnyNode, FileNode, OverlayFs } from "./overlay-fs.js";
export { runFreshInstance } from "./run-fresh.js";
export { WasiExit } from "./wasi-exit.js";
export { WasiHost, type WasiHostOptions } from "./wasi-host.js";
