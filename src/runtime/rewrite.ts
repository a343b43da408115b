import { Worker } from "node:worker_threads";
import { WasmletError } from "../core/index.js";
import type { RewriteReply, RewriteRequest } from "./rewrite-worker.js";
import type { RunnerMeta } from "./runner.js";

/** A rewrite under way on its own thread. */
export interface BackgroundRewrite {
  /** The rewritten module and its runner metadata; rejects with the reason the rewrite failed. */
  done: Promise<{ bytes: Uint8Array; meta: Required<RunnerMeta> }>;
  /** Stops the thread (the module was released meanwhile); `done` then rejects. */
  cancel(): void;
}

/**
 * Rewrites a module (wasm/instrumentModule: fuel checks, memory cap, exported globals) on a thread of its own, at
 * a lower priority than the request thread and the pool workers. `bytes` should be a view of a
 * SharedArrayBuffer: the thread then reads it without a copy.
 */
export function rewriteInBackground(bytes: Uint8Array, maxMemoryPages: number): BackgroundRewrite {
  const request: RewriteRequest = { bytes, maxMemoryPages };
  const worker = new Worker(new URL("./rewrite-worker.js", import.meta.url), { workerData: request });
  let settled = false;
  const done = new Promise<{ bytes: Uint8Array; meta: Required<RunnerMeta> }>((resolve, reject) => {
    worker.once("message", (reply: RewriteReply) => {
      settled = true;
      if (reply.ok) resolve({ bytes: reply.bytes, meta: reply.meta });
      else reject(new WasmletError("INVALID_MODULE", `rewriting the module failed: ${reply.message}`));
    });
    worker.once("error", (e) => {
      settled = true;
      reject(new WasmletError("INTERNAL", `the rewrite thread failed: ${e.message}`, { cause: e }));
    });
    worker.once("exit", (code) => {
      if (!settled)
        reject(new WasmletError("CANCELLED", `the rewrite thread ended (code ${code}) without a result`));
    });
  });
  // A rejection nobody waits for (a cancelled rewrite) must not end the process.
  done.catch(() => {});
  return {
    done,
    cancel: () => {
      void worker.terminate();
    },
  };
}
