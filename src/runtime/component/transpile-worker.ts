// Entry of a one-off thread that turns a component into what a ComponentRunner needs: jco's transpilation (seconds
// of CPU for a large component) and the rewrites of its core modules (memory cap, fuel checks, exported mutable
// globals: ~100 ms for a 13 MB one), so the request thread goes on serving meanwhile.
import { parentPort, workerData } from "node:worker_threads";
import { transpileBytes } from "@bytecodealliance/jco-transpile";
import { capMemories, coreResetBlockers, instrumentCoreModule } from "../../wasm/index.js";

/** What the thread answers: the glue, each core module rewritten, and whether a reset can clean an instance. */
export interface TranspileResult {
  js?: string;
  modules?: Record<string, { bytes: Uint8Array; globals: string[] }>;
  resettable?: boolean;
  error?: string;
}

const { bytes, maxPages } = workerData as { bytes: Uint8Array; maxPages: number };
let result: TranspileResult;
try {
  const out = await transpileBytes(bytes, {
    name: "component",
    instantiation: "sync",
    emitTypescriptDeclarations: false,
  });
  const modules: NonNullable<TranspileResult["modules"]> = {};
  const blockers: string[] = [];
  let js: string | undefined;
  for (const [name, data] of Object.entries(out.files)) {
    if (name.endsWith(".js")) js = Buffer.from(data).toString("utf8");
    if (!name.endsWith(".wasm")) continue;
    const capped = capMemories(data, maxPages);
    for (const b of coreResetBlockers(capped)) blockers.push(`${name} ${b}`);
    const rewritten = instrumentCoreModule(capped, { maxMemoryPages: maxPages });
    modules[name] = { bytes: rewritten.bytes, globals: rewritten.globalExports };
  }
  result =
    js === undefined
      ? { error: "jco produced no JavaScript" }
      : { js, modules, resettable: blockers.length === 0 };
} catch (e) {
  result = { error: e instanceof Error ? e.message : String(e) };
}
// The module bytes are moved, not copied: the copy would be made on the receiving (request) thread.
const moved = Object.values(result.modules ?? {}).map((m) => m.bytes.buffer as ArrayBuffer);
parentPort?.postMessage(result, [...new Set(moved)]);
