// Entry of a one-shot worker thread: rewrites one large module (wasm/instrumentModule) off the request thread,
// so that the event loop keeps answering while it walks every instruction (a 30 MB module: 0.3-0.9 s here).
import { parentPort, workerData } from "node:worker_threads";
import { instrumentModule } from "../wasm/index.js";
import type { RunnerMeta } from "./runner.js";
import { pinHelperThread } from "./thread-affinity.js";
import { lowerThreadPriority } from "./thread-priority.js";

/** What the thread is started with (its workerData). */
export interface RewriteRequest {
  /** The module as uploaded; a view of a SharedArrayBuffer, so nothing is copied. */
  bytes: Uint8Array;
  maxMemoryPages: number;
}

/** The thread's one message: the rewritten module and what a runner needs to know of it, or why it failed. */
export type RewriteReply =
  | { ok: true; bytes: Uint8Array; meta: Required<RunnerMeta> }
  | { ok: false; message: string };

// Below the pool workers (5): the module already serves, as uploaded, on a worker; this only makes it fit for
// the request thread, and must not take the core from the runs themselves.
lowerThreadPriority(10);
pinHelperThread();

const port = parentPort;
if (!port) throw new Error("rewrite-worker must run in a worker thread");
const { bytes, maxMemoryPages } = workerData as RewriteRequest;
let reply: RewriteReply;
try {
  // Its bytes passed inspectModule when its version was made; V8 validates the rewrite as it compiles it.
  const inst = instrumentModule(bytes, { maxMemoryPages, validate: false });
  // In shared memory: the compile thread reads it there (wasm/compileOnThread), and the request thread still has
  // it if that thread fails.
  const shared = new Uint8Array(new SharedArrayBuffer(inst.bytes.byteLength));
  shared.set(inst.bytes);
  reply = {
    ok: true,
    bytes: shared,
    meta: {
      fuelExport: inst.fuelExport,
      globalExports: inst.globalExports,
      resettable: inst.info.resettable,
      hasStartSection: inst.info.hasStartSection,
    },
  };
} catch (e) {
  reply = { ok: false, message: e instanceof Error ? e.message : String(e) };
}
port.postMessage(reply);
