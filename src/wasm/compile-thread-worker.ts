// Entry of the compile thread (compile-thread.ts): compiles large modules, as their bytes arrive in shared memory
// or all there, without the request thread.
import { parentPort, workerData } from "node:worker_threads";
import { fullGc, waitAsync } from "../core/index.js";
import { adoptLazyFlag } from "./compile.js";
import { StreamingCompile, warmStreamingCompile } from "./compile-stream.js";
import {
  ABANDONED,
  FINISHED,
  GEN,
  LENGTH,
  STATE,
  THERE,
  type ThreadData,
  type ThreadJob,
  type ThreadReply,
} from "./compile-thread.js";

/** How long a job waits for a wake before it looks anyway (a lost wake costs at most this). */
const LOOK_MS = 50;

/**
 * After the last job, how long until this thread's heap is collected, twice: it holds what V8's streaming compile
 * kept (its buffers go with the JS object that owns them) and the job's memory until then, and an idle thread
 * allocates nothing, so V8 would never collect them: without a collection, BENCH=large's RSS after deleting its 3
 * functions stayed 364 MiB over before. 3 creates of the 30 MB module on one server, RSS with them deployed:
 * 396-399 MiB with one collection, 360-373 with two back to back (the second frees what the first one's
 * callbacks let go), 350 with the compiles on the request thread. After the first run of a module, which
 * follows its compile; a collection took 13-18 ms of this thread.
 */
const COLLECT_AFTER_MS = 250;

const port = parentPort;
if (!port) throw new Error("compile-thread-worker must run in a worker thread");
const { lazyFlag, slot } = workerData as ThreadData;
adoptLazyFlag(lazyFlag, slot);
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
