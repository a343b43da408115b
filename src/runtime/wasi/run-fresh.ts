import type { WasiInputs, WasiOutputs } from "../types.js";
import { WasiExit } from "./wasi-exit.js";
import type { WasiHost } from "./wasi-host.js";

/**
 * One invocation on a new instance of `module` (no snapshot, no deadline): instantiates it on `host`, runs
 * `_start` with `inputs` and returns what it wrote. proc_exit ends it with that code; any other trap is thrown.
 * `host` may be reused: begin() resets all of its state. Used by tests and by the benchmark's isolation
 * baseline (it imports nothing that cannot run inside workerd).
 */
export function runFreshInstance(
  module: WebAssembly.Module,
  host: WasiHost,
  inputs: WasiInputs,
): WasiOutputs {
  const instance = new WebAssembly.Instance(module, {
    wasi_snapshot_preview1: host.imports as unknown as WebAssembly.ModuleImports,
  });
  host.setMemory(instance.exports.memory as WebAssembly.Memory);
  host.begin(inputs);
  let code = 0;
  try {
    (instance.exports._start as () => void)();
  } catch (e) {
    if (!(e instanceof WasiExit)) throw e;
    code = e.code;
  }
  return host.end(code);
}
