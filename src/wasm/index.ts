export { Writer } from "./bytes.js";
export { type CappedModule, compileCapped, compileLazily, LAZY_COMPILE_MIN_BYTES } from "./compile.js";
export { type ModuleCompile, StreamingCompile, warmStreamingCompile } from "./compile-stream.js";
export { compileOnThread, startCompileThread, stopCompileThread, ThreadCompile } from "./compile-thread.js";
export {
  COMPONENT_WORLDS,
  type ComponentInfo,
  type ComponentWorld,
  capMemories,
  exportMutableGlobals,
  GLOBAL_SNAPSHOT_PREFIX,
  inspectComponent,
  isComponent,
} from "./component.js";
export { coreResetBlockers, inspectModule, type ModuleInfo, WASI_MODULE } from "./inspect.js";
export {
  DEADLINE_IMPORT,
  FUEL_EXPORT,
  GLOBAL_EXPORT_PREFIX,
  type Instrumented,
  type InstrumentOptions,
  instrumentCoreModule,
  instrumentModule,
} from "./instrument.js";
export type { ExternKind } from "./module.js";
export { WASI_PREVIEW1, type WasiSignature, type WasiValType } from "./wasi-preview1.js";
