import { Worker } from "node:worker_threads";
import { WasmletError } from "../../core/index.js";
import { capMemories } from "../../wasm/index.js";
import type { PreparedComponent } from "./runner.js";

/**
 * Transpiles a component with jco (on a thread of its own), caps the memories of its core modules at
 * `memoryMiB` and compiles them. Rejects with INVALID_MODULE when jco cannot transpile it.
 */
export async function prepareComponent(bytes: Uint8Array, memoryMiB: number): Promise<PreparedComponent> {
  const files = await transpile(bytes);
  let js: string | undefined;
  const modules: Record<string, WebAssembly.Module> = {};
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith(".js")) js = Buffer.from(data).toString("utf8");
    else if (name.endsWith(".wasm"))
      modules[name] = await WebAssembly.compile(capMemories(data, memoryMiB * 16) as Uint8Array<ArrayBuffer>);
  }
  if (js === undefined) throw new WasmletError("INTERNAL", "jco produced no JavaScript for the component");
  return { js, modules };
}

function transpile(bytes: Uint8Array): Promise<Record<string, Uint8Array>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./transpile-worker.js", import.meta.url), { workerData: { bytes } });
    worker.once("message", (m: { files?: Record<string, Uint8Array>; error?: string }) => {
      void worker.terminate();
      if (m.files) resolve(m.files);
      else reject(new WasmletError("INVALID_MODULE", `the component cannot be transpiled: ${m.error}`));
    });
    worker.once("error", (e) =>
      reject(new WasmletError("INTERNAL", `transpiling the component failed: ${e.message}`)),
    );
  });
}
