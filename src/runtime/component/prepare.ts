import { Worker } from "node:worker_threads";
import { WasmletError } from "../../core/index.js";
import type { PreparedComponent } from "./runner.js";
import type { TranspileResult } from "./transpile-worker.js";

/**
 * Transpiles a component with jco, caps the memories of its core modules at `memoryMiB` and exports their
 * mutable globals (for the reset between runs) — all on a thread of its own —, then compiles the core modules in
 * the background. Rejects with INVALID_MODULE when jco cannot transpile it or a memory is over the cap.
 */
export async function prepareComponent(bytes: Uint8Array, memoryMiB: number): Promise<PreparedComponent> {
  const out = await transpile(bytes, memoryMiB * 16);
  const modules: PreparedComponent["modules"] = {};
  for (const [name, m] of Object.entries(out.modules ?? {}))
    modules[name] = {
      module: await WebAssembly.compile(m.bytes as Uint8Array<ArrayBuffer>),
      globals: m.globals,
    };
  return { js: out.js as string, modules, resettable: out.resettable === true };
}

function transpile(bytes: Uint8Array, maxPages: number): Promise<TranspileResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./transpile-worker.js", import.meta.url), {
      workerData: { bytes, maxPages },
    });
    worker.once("message", (m: TranspileResult) => {
      void worker.terminate();
      if (m.error === undefined) resolve(m);
      else reject(new WasmletError("INVALID_MODULE", `the component cannot be prepared: ${m.error}`));
    });
    worker.once("error", (e) =>
      reject(new WasmletError("INTERNAL", `transpiling the component failed: ${e.message}`)),
    );
  });
}
