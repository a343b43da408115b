import { Worker } from "node:worker_threads";
import { WasmletError } from "../core/index.js";
import type { LoadMessage, RunMessage } from "./pool-worker.js";
import type { RunResult, WasiInputs } from "./types.js";

/** Extra time a worker gets past a job's deadline to stop by itself before it is terminated. */
const KILL_GRACE_MS = 250;

export interface PoolOptions {
  /** Most workers alive at once (workers stuck in runaways count). */
  maxWorkers: number;
  /** Most jobs waiting for a worker; past that, runs fail with OVERLOADED. */
  maxQueue: number;
}

interface Job {
  id: number;
  load: Omit<LoadMessage, "type">;
  inputs: WasiInputs;
  timeoutMs: number;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  loaded: Set<string>;
  job: Job | undefined;
  killTimer: NodeJS.Timeout | undefined;
}

/**
 * Worker threads for invocations that must not run on the main thread (functions demoted for overrunning
 * the main-thread budget). A worker whose job overruns its deadline (plus grace) is terminated and replaced,
 * so a runaway never holds a worker for long. Each hop costs ~70-100 µs here: the fast path stays on the main thread.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  /** True while a worker runs a job or one waits for a worker: threads of this process need the CPU. */
  get busy(): boolean {
    if (this.queue.length > 0) return true;
    for (const s of this.slots) if (s.job) return true;
    return false;
  }

  run(load: Omit<LoadMessage, "type">, inputs: WasiInputs, timeoutMs: number): Promise<RunResult> {
    if (this.closed) return Promise.reject(new WasmletError("UNAVAILABLE", "the runtime is shutting down"));
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, load, inputs, timeoutMs, resolve, reject };
      const slot = this.idleSlot();
      if (slot) this.dispatch(slot, job);
      else if (this.queue.length >= this.options.maxQueue)
        reject(new WasmletError("OVERLOADED", "all sandboxes are busy and the queue is full"));
      else this.queue.push(job);
    });
  }

  /** Forgets a module in every worker (it was evicted from the cache). */
  unload(key: string): void {
    for (const s of this.slots)
      if (s.loaded.delete(key))
        s.worker.postMessage({ type: "unload", key } satisfies { type: "unload"; key: string });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0))
      job.reject(new WasmletError("UNAVAILABLE", "the runtime is shutting down"));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private idleSlot(): Slot | undefined {
    const idle = this.slots.find((s) => !s.job);
    if (idle) return idle;
    if (this.slots.length < this.options.maxWorkers) return this.spawn();
    return undefined;
  }

  private spawn(): Slot {
    const worker = new Worker(new URL("./pool-worker.js", import.meta.url));
    const slot: Slot = { worker, loaded: new Set(), job: undefined, killTimer: undefined };
    worker.on("message", (msg: { id: number; result: RunResult }) => {
      const job = slot.job;
      if (!job || job.id !== msg.id) return;
      this.finish(slot);
      job.resolve(msg.result);
    });
    worker.on("error", (err) => this.fail(slot, err));
    worker.on("exit", () => this.fail(slot, new Error("worker exited")));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    if (!slot.loaded.has(job.load.key)) {
      slot.worker.postMessage({ type: "load", ...job.load } satisfies LoadMessage);
      slot.loaded.add(job.load.key);
    }
    slot.killTimer = setTimeout(() => this.kill(slot), job.timeoutMs + KILL_GRACE_MS);
    slot.worker.postMessage({
      type: "run",
      id: job.id,
      key: job.load.key,
      inputs: job.inputs,
      timeoutMs: job.timeoutMs,
    } satisfies RunMessage);
  }

  private finish(slot: Slot): void {
    clearTimeout(slot.killTimer);
    slot.job = undefined;
    const next = this.queue.shift();
    if (next) this.dispatch(slot, next);
  }

  /** The guest did not stop at its deadline (e.g. blocked in a host call): terminate the worker. */
  private kill(slot: Slot): void {
    const job = slot.job;
    this.remove(slot);
    void slot.worker.terminate();
    job?.resolve({
      exitCode: 1,
      stdout: new Uint8Array(0),
      stderr: new Uint8Array(0),
      durationMs: job.timeoutMs,
      error: { kind: "timeout", message: "deadline exceeded (worker terminated)" },
    });
    this.drain();
  }

  private fail(slot: Slot, err: unknown): void {
    if (!this.slots.includes(slot)) return;
    const job = slot.job;
    this.remove(slot);
    job?.resolve({
      exitCode: 1,
      stdout: new Uint8Array(0),
      stderr: new Uint8Array(0),
      durationMs: 0,
      error: {
        kind: "internal",
        message: `sandbox worker failed: ${err instanceof Error ? err.message : err}`,
      },
    });
    this.drain();
  }

  private remove(slot: Slot): void {
    clearTimeout(slot.killTimer);
    slot.job = undefined;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private drain(): void {
    while (this.queue.length > 0 && !this.closed) {
      const slot = this.idleSlot();
      if (!slot) return;
      const job = this.queue.shift();
      if (job) this.dispatch(slot, job);
    }
  }
}
