// Entry of the transpiler thread (prepare.ts keeps one between deploys): turns a component into what a
// ComponentRunner needs — jco's transpilation (seconds of CPU for a large component) and the rewrites of its core
// modules (memory cap, fuel checks, exported mutable globals: ~100 ms for a 13 MB one) —, one job at a time, so
// the request thread goes on serving meanwhile.
import { parentPort } from "node:worker_threads";
import { transpileBytes } from "@bytecodealliance/jco-transpile";
import { capMemories, coreResetBlockers, instrumentCoreModule } from "../../wasm/index.js";

/** A job for the thread; `quit` ends it after the jobs before it. */
export interface TranspileJob {
  id: number;
  bytes?: Uint8Array;
  maxPages?: number;
  quit?: true;
}

/**
 * What the thread answers: the glue, each core module rewritten, and whether a reset can clean an instance; or an
 * error — `trapped` when jco itself trapped on it (the thread is not reused), `died` (set by prepare.ts) when the
 * thread ended before answering.
 */
export interface TranspileResult {
  js?: string;
  modules?: Record<string, { bytes: Uint8Array; globals: string[] }>;
  resettable?: boolean;
  error?: string;
  trapped?: true;
  died?: true;
}

async function transpile(bytes: Uint8Array, maxPages: number): Promise<TranspileResult> {
  let out: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    out = await transpileBytes(bytes, {
      name: "component",
      instantiation: "sync",
      emitTypescriptDeclarations: false,
    });
  } catch (e) {
    // jco refuses what it cannot transpile with an error string; a trap inside it is a RuntimeError.
    const message = e instanceof Error ? e.message : String(e);
    return e instanceof WebAssembly.RuntimeError ? { error: message, trapped: true } : { error: message };
  }
  try {
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
    return js === undefined
      ? { error: "jco produced no JavaScript" }
      : { js, modules, resettable: blockers.length === 0 };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

// Jobs are handled in order, one at a time.
let chain: Promise<void> = Promise.resolve();
parentPort?.on("message", (job: TranspileJob) => {
  chain = chain.then(async () => {
    if (job.quit) {
      process.exit(0);
    }
    const result = await transpile(job.bytes as Uint8Array, job.maxPages as number);
    // The module bytes are moved, not copied: the copy would be made on the receiving (request) thread.
    const moved = Object.values(result.modules ?? {}).map((m) => m.bytes.buffer as ArrayBuffer);
    parentPort?.postMessage({ ...result, id: job.id }, [...new Set(moved)]);
  });
});
