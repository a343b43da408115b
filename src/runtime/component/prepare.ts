import { Worker } from "node:worker_threads";
import { WasmletError } from "../../core/index.js";
import type { PreparedComponent } from "./runner.js";
import type { TranspileJob, TranspileResult } from "./transpile-worker.js";

/**
 * Transpiles a component with jco, caps the memories of its core modules at `memoryMiB` and exports their
 * mutable globals (for the reset between runs) — all on the transpiler thread —, then compiles the core modules in
 * the background. Rejects with INVALID_MODULE when jco cannot transpile it or a memory is over the cap.
 */
export async function prepareComponent(bytes: Uint8Array, memoryMiB: number): Promise<PreparedComponent> {
  const out = await transpiler.run(bytes, memoryMiB * 16);
  const modules: PreparedComponent["modules"] = {};
  for (const [name, m] of Object.entries(out.modules ?? {}))
    modules[name] = {
      module: await WebAssembly.compile(m.bytes as Uint8Array<ArrayBuffer>),
      globals: m.globals,
    };
  return { js: out.js as string, modules, resettable: out.resettable === true };
}

/** How long the transpiler thread is kept after its last job. */
const IDLE_MS = 30_000;

/**
 * One transpiler thread kept between deploys. Starting a thread and loading jco-transpile (itself a component
 * run through jco's glue) is most of a small component's deploy: measured here, the import plus the first
 * transpile of the 8 KB hello 0.7–1.0 s + ~1.8 s of loading at load ~8, the next ones 18–190 ms. Jobs run one at
 * a time (jco is single-threaded inside); the thread ends after `IDLE_MS` without work, so the memory jco grew for
 * a large component is given back, and it is replaced after a job that failed (an instance that trapped is not
 * trusted again) or when it dies.
 */
/** A transpiler thread and the jobs it has not answered yet. */
interface Thread {
  worker: Worker;
  pending: Map<number, (r: TranspileResult) => void>;
}

class Transpiler {
  private current: Thread | undefined;
  private nextId = 1;
  private idle: NodeJS.Timeout | undefined;
  /** Threads started so far (tests and diagnostics). */
  started = 0;

  run(bytes: Uint8Array, maxPages: number): Promise<TranspileResult> {
    const thread = this.thread();
    clearTimeout(this.idle);
    // Held while jobs are out (a caller awaiting one keeps the process alive), let go when idle.
    thread.worker.ref();
    const id = this.nextId++;
    return new Promise<TranspileResult>((resolve) => {
      thread.pending.set(id, resolve);
      const job: TranspileJob = { id, bytes, maxPages };
      thread.worker.postMessage(job);
    }).then((m) => {
      if (m.error === undefined) return m;
      // jco trapped: its instance may be left in any state, so the next job gets a new thread.
      if (m.trapped) this.retire(thread);
      throw m.died
        ? new WasmletError("INTERNAL", `transpiling the component failed: ${m.error}`)
        : new WasmletError("INVALID_MODULE", `the component cannot be prepared: ${m.error}`);
    });
  }

  private thread(): Thread {
    if (this.current) return this.current;
    const thread: Thread = {
      worker: new Worker(new URL("./transpile-worker.js", import.meta.url)),
      pending: new Map(),
    };
    const { worker, pending } = thread;
    this.started++;
    worker.on("message", (m: TranspileResult & { id: number }) => {
      const done = pending.get(m.id);
      pending.delete(m.id);
      done?.(m);
      if (pending.size === 0 && this.current === thread) {
        worker.unref();
        this.idle = setTimeout(() => this.retire(thread), IDLE_MS);
        this.idle.unref();
      }
    });
    const died = (why: string) => {
      if (this.current === thread) this.current = undefined;
      // Every job still on that thread fails (a retired thread's only); later jobs start a new one.
      for (const [id, done] of pending) {
        pending.delete(id);
        done({ error: why, died: true });
      }
    };
    worker.on("error", (e) => died(e.message));
    worker.on("exit", (code) => died(`the transpiler thread exited (code ${code})`));
    this.current = thread;
    return thread;
  }

  /** Ends `thread` once its queued jobs are done; jobs from now on go to a new one. */
  private retire(thread: Thread): void {
    if (this.current !== thread) return;
    this.current = undefined;
    clearTimeout(this.idle);
    if (thread.pending.size === 0) void thread.worker.terminate();
    else thread.worker.postMessage({ id: 0, quit: true } satisfies TranspileJob);
  }
}

const transpiler = new Transpiler();

/** How many transpiler threads this process has started (one per burst of deploys, more after a failure). */
export const transpilerThreadsStarted = (): number => transpiler.started;
