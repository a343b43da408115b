// Entry of a pool worker thread: runs invocations of demoted (slow or runaway) functions off the main thread.
import { parentPort, workerData } from "node:worker_threads";
import type { ComponentRunner, PreparedComponent } from "./component/index.js";
import { reclaimSoon } from "./reclaim.js";
import { ModuleRunner, type RunnerMeta, type Waiter } from "./runner.js";
import { pinHelperThread } from "./thread-affinity.js";
import { lowerThreadPriority } from "./thread-priority.js";
import type { RunResult, WasiInputs } from "./types.js";
import { FsImage, type FsImageExtras } from "./wasi/index.js";

// Demoted runs are slow or runaway by definition: a little below the router thread, so that on a busy machine
// they do not take its core (they still get a fair share, and all of an idle core).
lowerThreadPriority(5);
// With serve --cpu-affinity auto: off the request thread's CPU.
pinHelperThread();

/** What a worker needs to run a prepared image: a (rewritten) core module, or a transpiled component. */
export type LoadSpec = {
  key: string;
  files: Map<string, Uint8Array>;
  /** Directories, symlinks and preopens of the image (structured-cloneable). */
  fs: FsImageExtras;
  memoryCapBytes: number;
} & ({ module: WebAssembly.Module; meta: RunnerMeta } | { component: PreparedComponent });
export type LoadMessage = LoadSpec & { type: "load" };
export interface RunMessage {
  type: "run";
  id: number;
  key: string;
  inputs: WasiInputs;
  /** Time left until the job's deadline when it was sent. */
  timeoutMs: number;
  maxOutputBytes: number;
}
export interface UnloadMessage {
  type: "unload";
  key: string;
}
export type ToWorker = LoadMessage | RunMessage | UnloadMessage;
/** A job's result, or news that its guest started (`parked: true`) or ended a wait. */
export type FromWorker =
  | { type: "ready" }
  | { type: "done"; id: number; result: RunResult }
  | { type: "parked"; id: number; parked: boolean };

const runners = new Map<string, ModuleRunner | ComponentRunner>();
const port = parentPort as NonNullable<typeof parentPort>;
if (!parentPort) throw new Error("pool-worker must run in a worker thread");

/** Shared with the pool: [0] becomes 1 when the current job is cancelled; sleeps wait on it. */
const control = new Int32Array((workerData as { control: SharedArrayBuffer }).control);
let currentId = 0;
const waiter: Waiter = {
  wait(ms: number): boolean {
    Atomics.wait(control, 0, 0, ms);
    return Atomics.load(control, 0) === 0;
  },
  get cancelled(): boolean {
    return Atomics.load(control, 0) !== 0;
  },
  parked(on: boolean): void {
    port.postMessage({ type: "parked", id: currentId, parked: on } satisfies FromWorker);
  },
};

/**
 * The component runner's code, loaded when this thread first gets a component: threads that only ever run modules
 * boot without it (it adds ~9 ms to a boot that takes ~30 ms).
 */
let components: typeof import("./component/index.js") | undefined;
/** Messages that came while the component code loads, handled in order once it has. */
let backlog: ToWorker[] | undefined;

port.on("message", (msg: ToWorker) => {
  if (backlog) {
    backlog.push(msg);
    return;
  }
  if (msg.type === "load" && "component" in msg && !components) {
    const waiting: ToWorker[] = [msg];
    backlog = waiting;
    void import("./component/index.js").then((m) => {
      components = m;
      backlog = undefined;
      for (const b of waiting) handle(b);
    });
    return;
  }
  handle(msg);
});

function handle(msg: ToWorker): void {
  switch (msg.type) {
    case "load":
      runners.set(
        msg.key,
        "component" in msg
          ? new (components as typeof import("./component/index.js")).ComponentRunner(
              msg.component,
              new FsImage(msg.files, msg.fs),
              msg.memoryCapBytes,
              waiter,
            )
          : new ModuleRunner(
              msg.module,
              msg.meta,
              new FsImage(msg.files, msg.fs),
              msg.memoryCapBytes,
              waiter,
            ),
      );
      break;
    case "unload":
      runners.delete(msg.key);
      // This thread's instance, memory image and module object are garbage now, but an idle thread never
      // collects: the compiled module (shared with the other threads) stays until every thread has let it go.
      reclaimSoon();
      break;
    case "run": {
      const runner = runners.get(msg.key);
      if (!runner) {
        port.postMessage({
          type: "done",
          id: msg.id,
          result: {
            exitCode: 1,
            stdout: new Uint8Array(0),
            stderr: new Uint8Array(0),
            durationMs: 0,
            error: { kind: "internal", message: `worker has no module ${msg.key}` },
          },
        });
        break;
      }
      currentId = msg.id;
      const now = performance.now();
      const deadlineAt = now + msg.timeoutMs;
      const result = runner.run(msg.inputs, deadlineAt, deadlineAt, msg.maxOutputBytes);
      result.stdout = owned(result.stdout);
      result.stderr = owned(result.stderr);
      port.postMessage(
        { type: "done", id: msg.id, result } satisfies FromWorker,
        [result.stdout.buffer, result.stderr.buffer].filter(transferable),
      );
      if (isComponent(runner)) runner.settle();
      break;
    }
  }
}

function isComponent(r: ModuleRunner | ComponentRunner): r is ComponentRunner {
  return !(r instanceof ModuleRunner);
}

/**
 * `bytes` in an ArrayBuffer of its own, so that it can be transferred and carries nothing else: small outputs
 * are slices of node's shared Buffer pool, which node will not transfer (it would clone the whole 8 KiB slab,
 * other invocations' bytes included).
 */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : new Uint8Array(bytes);
}

function transferable(b: ArrayBufferLike): b is ArrayBuffer {
  return b instanceof ArrayBuffer && b.byteLength > 0;
}

port.postMessage({ type: "ready" } satisfies FromWorker);
