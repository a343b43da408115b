import { Worker } from "node:worker_threads";
import { WasmletError } from "../../core/index.js";
import { capMemories, coreResetBlockers, exportMutableGlobals } from "../../wasm/index.js";
import type { PreparedComponent } from "./runner.js";

/**
 * Transpiles a component with jco (on a thread of its own), caps the memories of its core modules at
 * `memoryMiB`, exports their mutable globals (for the reset between runs) and compiles them. Rejects with
 * INVALID_MODULE when jco cannot transpile it.
 */
export async function prepareComponent(bytes: Uint8Array, memoryMiB: number): Promise<PreparedComponent> {
  const files = await transpile(bytes);
  let js: string | undefined;
  const modules: PreparedComponent["modules"] = {};
  const blockers: string[] = [];
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith(".js")) {
      js = Buffer.from(data).toString("utf8");
      continue;
    }
    if (!name.endsWith(".wasm")) continue;
    const capped = capMemories(data, memoryMiB * 16);
    for (const b of coreResetBlockers(capped)) blockers.push(`${name} ${b}`);
    const rewritten = exportMutableGlobals(capped);
    modules[name] = {
      module: await WebAssembly.compile(rewritten.bytes as Uint8Array<ArrayBuffer>),
      globals: rewritten.names,
    };
  }
  if (js === undefined) throw new WasmletError("INTERNAL", "jco produced no JavaScript for the component");
  return { js, modules, resettable: blockers.length === 0 };
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
