// Entry of the compile thread (compile-thread.ts): compiles large modules, as their bytes arrive in shared memory
// or all there, without the request thread.
import { parentPort, workerData } from "node:worker_threads";
import { fullGc } from "../core/index.js";
import { adoptLazyFlag } from "./compile.js";
import { StreamingCompile, warmStreamingCompile } from "./compile-stream.js";
import {
  ABANDONED,
  FINISHED,
  GEN,
  LENGTH,
  STATE,
  THERE,
  type ThreadJob,
  type ThreadReply,
} from "./compile-thread.js";

/** Atomics.waitAsync (ES2024; in Node 20's V8, not in the TypeScript lib this project targets). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: unknown };
  }
).waitAsync;

/** How long a job waits for a wake before it looks anyway (a lost wake costs at most this). */
const LOOK_MS = 50;

/**
 * After the last job, how long until this thread's heap is collected, twice: it holds what V8's streaming compile
 * kept (its buffers go with the JS object that owns them) and the job's memory until then, and an idle thread
 * allocates nothing, so V8 would never collect them. One collection left ~30 MiB per 30 MB module in the
 * process (a second one frees what the first one's callbacks let go); 3 creates of the 30 MB module, deployed:
 * 396-399 MiB with one, 360-373 with two back to back, 350 with compiles on the request thread. After the first
 * run of a module, which follows its compile: the two take 13-18 ms of this thread each.
 */
const COLLECT_AFTER_MS = 250;

const port = parentPort;
if (!port) throw new Error("compile-thread-worker must run in a worker thread");
adoptLazyFlag((workerData as { lazyFlag: SharedArrayBuffer }).lazyFlag);
// Node's fetch implementation, which compileStreaming's Response needs: loaded once, before the first job.
const ready = warmStreamingCompile();
let collect: NodeJS.Timeout | undefined;

port.on("message", (job: ThreadJob) => {
  void run(job)
    .catch(() => undefined)
    .then((module) => {
      port.postMessage({ id: job.id, module } satisfies ThreadReply);
      clearTimeout(collect);
      collect = setTimeout(() => {
        fullGc();
        setImmediate(fullGc);
      }, COLLECT_AFTER_MS);
    });
});

/** Follows the job's cell (see ThreadJob) into a StreamingCompile until the module is all there or abandoned. */
async function run({
  buffer,
  start,
  cell,
  maxMemoryPages,
}: ThreadJob): Promise<WebAssembly.Module | undefined> {
  await ready;
  const compile = new StreamingCompile(maxMemoryPages);
  const module = new Uint8Array(buffer, start);
  let seen = start;
  for (;;) {
    const gen = Atomics.load(cell, GEN);
    const state = Atomics.load(cell, STATE);
    if (state === ABANDONED) {
      compile.abandon();
      break;
    }
    if (state === FINISHED) {
      compile.finish(module, Atomics.load(cell, LENGTH));
      break;
    }
    const there = Atomics.load(cell, THERE);
    if (there > seen) {
      compile.advance(module, there - start);
      seen = there;
    }
    const wait = waitAsync(cell, GEN, gen, LOOK_MS);
    if (wait.async) await wait.value;
  }
  return (await compile.result)?.module;
}
