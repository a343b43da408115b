import { Worker } from "node:worker_threads";
import { exposeGc, WasmletError } from "../core/index.js";
import type { FromWorker, LoadMessage, LoadSpec, RunMessage } from "./pool-worker.js";
import type { CancelToken, RunResult, WasiInputs } from "./types.js";

/** Extra time a worker gets past a job's deadline to stop by itself before it is terminated. */
const KILL_GRACE_MS = 250;
/** Idle threads beyond `maxRunning` are ended after this long without a job. */
const IDLE_THREAD_MS = 30_000;

export interface PoolOptions {
  /** Most jobs computing at once (a job that waits in a sleep does not count): about the cores to lend. */
  maxRunning: number;
  /** Most threads alive at once, waiting ones included (each is a V8 isolate: a few MiB). */
  maxThreads: number;
  /** Most jobs waiting for a thread; past that, runs fail with OVERLOADED. */
  maxQueue: number;
}

interface Job {
  id: number;
  load: LoadSpec;
  inputs: WasiInputs;
  deadlineAt: number;
  maxOutputBytes: number;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
  cancel: CancelToken | undefined;
  unsubscribe: (() => void) | undefined;
  /** While queued: fires at the deadline. */
  expiry: NodeJS.Timeout | undefined;
}

interface Slot {
  worker: Worker;
  /** [0]: 1 once the current job is cancelled (the worker waits on it, so a cancel wakes a sleeping guest). */
  control: Int32Array;
  loaded: Set<string>;
  job: Job | undefined;
  /** The job is waiting in a sleep: it holds a thread but no CPU. */
  parked: boolean;
  killTimer: NodeJS.Timeout | undefined;
  idleSince: number;
  /** False until the thread has booted and said so: only then does it take jobs. */
  ready: boolean;
}

/**
 * Worker threads for invocations that must not run on the main thread: functions demoted for overrunning the
 * main-thread budget, and functions that wait (a sleep holds a thread, never the request thread). Jobs that
 * compute are limited to `maxRunning` at once; a job that sleeps frees its share of the CPU, so up to
 * `maxThreads` sleepers and `maxRunning` computing jobs run side by side. A job's deadline covers its time in
 * the queue; a job whose caller goes away is dropped from the queue or woken and stopped. A worker whose job
 * overruns its deadline (plus grace) is terminated and replaced. Each hop costs ~70-100 µs here: the fast path
 * stays on the main thread.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private readonly reaper: NodeJS.Timeout;
  /**
   * Modules whose runs were seen waiting: their jobs take a thread without waiting for a computing slot, since
   * they will mostly sleep (learning it per job costs a message round trip each, which at 64 concurrent
   * 300 ms sleepers cut the throughput several-fold).
   */
  private readonly sleepers = new Set<string>();
  /**
   * A thread being booted, if any. Threads boot one at a time: a boot takes ~30 ms of CPU here (more on a busy
   * machine), and 64 booting at once starved the request thread and missed every deadline.
   */
  private booting: Slot | undefined;

  constructor(private readonly options: PoolOptions) {
    this.reaper = setInterval(() => this.reapIdle(), IDLE_THREAD_MS / 2);
    this.reaper.unref();
  }

  /** True while a job computes on a worker or waits for one: threads of this process need the CPU. */
  get busy(): boolean {
    if (this.queue.length > 0) return true;
    for (const s of this.slots) if (s.job && !s.parked) return true;
    return false;
  }

  /** Threads alive and jobs queued, for tests and diagnostics. */
  get stats(): { threads: number; running: number; parked: number; queued: number } {
    let running = 0;
    let parked = 0;
    for (const s of this.slots) if (s.job) s.parked ? parked++ : running++;
    return { threads: this.slots.length, running, parked, queued: this.queue.length };
  }

  run(
    load: LoadSpec,
    inputs: WasiInputs,
    deadlineAt: number,
    maxOutputBytes: number,
    cancel?: CancelToken,
  ): Promise<RunResult> {
    if (this.closed) return Promise.reject(new WasmletError("UNAVAILABLE", "the runtime is shutting down"));
    if (cancel?.cancelled) return Promise.resolve(failed("cancelled", "cancelled: the caller went away", 0));
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        load,
        inputs,
        deadlineAt,
        maxOutputBytes,
        resolve,
        reject,
        cancel,
        unsubscribe: undefined,
        expiry: undefined,
      };
      const slot = this.queue.length === 0 ? this.freeSlot(job) : undefined;
      if (slot) {
        this.dispatch(slot, job);
      } else if (this.queue.length >= this.options.maxQueue) {
        reject(new WasmletError("OVERLOADED", "all sandboxes are busy and their queue is full"));
        return;
      } else {
        this.queue.push(job);
        const wait = deadlineAt - performance.now();
        job.expiry = setTimeout(() => this.expire(job), Math.max(0, wait));
      }
      if (cancel) job.unsubscribe = cancel.onCancel(() => this.cancel(job));
    });
  }

  /**
   * Boots a thread now when none is idle or booting (and maxThreads allows): a large module's first runs go to a
   * worker, and the boot (~30-50 ms here) then happens while its deploy finishes, not in its first answer.
   */
  prestart(): void {
    if (this.closed || this.booting || this.slots.length >= this.options.maxThreads) return;
    if (this.slots.some((s) => s.ready && !s.job)) return;
    this.booting = this.spawn();
  }

  /** Forgets a module in every worker (it was evicted from the cache). */
  unload(key: string): void {
    this.sleepers.delete(key);
    for (const s of this.slots)
      if (s.loaded.delete(key))
        s.worker.postMessage({ type: "unload", key } satisfies { type: "unload"; key: string });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    for (const job of this.queue.splice(0)) {
      clearTimeout(job.expiry);
      job.unsubscribe?.();
      job.reject(new WasmletError("UNAVAILABLE", "the runtime is shutting down"));
    }
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  /**
   * A thread for `job`: an idle one, or a new one below maxThreads; unless the job's module is a known sleeper,
   * only while fewer than maxRunning jobs compute.
   */
  private freeSlot(job: Job): Slot | undefined {
    let running = 0;
    let idle: Slot | undefined;
    for (const s of this.slots) {
      if (!s.job) {
        if (s.ready) idle ??= s;
      } else if (!s.parked) running++;
    }
    if (running >= this.options.maxRunning && !this.sleepers.has(job.load.key)) return undefined;
    if (idle) return idle;
    if (!this.booting && this.slots.length < this.options.maxThreads) this.booting = this.spawn();
    return undefined;
  }

  private spawn(): Slot {
    // A worker collects its heap after dropping a module (reclaim.ts), with the `gc` that V8's flag exposes; the
    // flag is set here, by this thread, as the compile thread's start does. Without it (a process that had neither
    // started the compile thread nor collected a large module's garbage itself) the collection threw and the worker
    // ended 500 ms after each module it dropped, and the next run waited for another to boot.
    exposeGc();
    const control = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL("./pool-worker.js", import.meta.url), {
      workerData: { control: control.buffer },
    });
    const slot: Slot = {
      worker,
      control,
      loaded: new Set(),
      job: undefined,
      parked: false,
      killTimer: undefined,
      idleSince: performance.now(),
      ready: false,
    };
    worker.on("message", (msg: FromWorker) => {
      if (msg.type === "ready") {
        slot.ready = true;
        slot.idleSince = performance.now();
        if (this.booting === slot) this.booting = undefined;
        this.drain();
        return;
      }
      const job = slot.job;
      if (!job || job.id !== msg.id) return;
      if (msg.type === "parked") {
        slot.parked = msg.parked;
        if (msg.parked) {
          this.sleepers.add(job.load.key);
          this.drain();
        }
        return;
      }
      this.settle(job);
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
    clearTimeout(job.expiry);
    job.expiry = undefined;
    slot.job = job;
    slot.parked = false;
    Atomics.store(slot.control, 0, 0);
    if (!slot.loaded.has(job.load.key)) {
      slot.worker.postMessage({ type: "load", ...job.load } satisfies LoadMessage);
      slot.loaded.add(job.load.key);
    }
    const left = job.deadlineAt - performance.now();
    slot.killTimer = setTimeout(() => this.kill(slot), Math.max(0, left) + KILL_GRACE_MS);
    slot.worker.postMessage({
      type: "run",
      id: job.id,
      key: job.load.key,
      inputs: job.inputs,
      timeoutMs: Math.max(0, left),
      maxOutputBytes: job.maxOutputBytes,
    } satisfies RunMessage);
  }

  private finish(slot: Slot): void {
    clearTimeout(slot.killTimer);
    slot.job = undefined;
    slot.parked = false;
    slot.idleSince = performance.now();
    this.drain();
  }

  /** A queued job's deadline came before a thread did. */
  private expire(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.settle(job);
    job.resolve(failed("timeout", "deadline exceeded while waiting for a sandbox", 0));
  }

  /** The caller went away: drop the job if queued, else wake and stop its guest. */
  private cancel(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.settle(job);
      job.resolve(failed("cancelled", "cancelled while queued: the caller went away", 0));
      return;
    }
    const slot = this.slots.find((s) => s.job === job);
    if (!slot) return;
    Atomics.store(slot.control, 0, 1);
    Atomics.notify(slot.control, 0);
    // The guest sees the cancel at its next deadline check (a component's in its core modules' fuel checks), but a
    // long host call can hold it past that: a guest that has not stopped within the grace is terminated.
    clearTimeout(slot.killTimer);
    slot.killTimer = setTimeout(() => this.kill(slot, "cancelled"), KILL_GRACE_MS);
  }

  private settle(job: Job): void {
    clearTimeout(job.expiry);
    job.unsubscribe?.();
    job.unsubscribe = undefined;
  }

  /** The guest did not stop at its deadline (e.g. blocked in a host call), or after a cancel: terminate the worker. */
  private kill(slot: Slot, why: "timeout" | "cancelled" = "timeout"): void {
    const job = slot.job;
    this.remove(slot);
    void slot.worker.terminate();
    if (job) {
      this.settle(job);
      job.resolve(
        why === "timeout"
          ? failed("timeout", "deadline exceeded (worker terminated)", job.deadlineAt - performance.now())
          : failed("cancelled", "cancelled: the caller went away (worker terminated)", 0),
      );
    }
    this.drain();
  }

  private fail(slot: Slot, err: unknown): void {
    if (!this.slots.includes(slot)) return;
    const job = slot.job;
    this.remove(slot);
    if (job) {
      this.settle(job);
      job.resolve(
        failed("internal", `sandbox worker failed: ${err instanceof Error ? err.message : err}`, 0),
      );
    }
    this.drain();
  }

  private remove(slot: Slot): void {
    clearTimeout(slot.killTimer);
    slot.job = undefined;
    if (this.booting === slot) this.booting = undefined;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  /** Dispatches queued jobs, in order, while threads can take them (a job that cannot go waits, not passed). */
  private drain(): void {
    while (this.queue.length > 0 && !this.closed) {
      const slot = this.freeSlot(this.queue[0]);
      if (!slot) return;
      const job = this.queue.shift();
      if (job) this.dispatch(slot, job);
    }
  }

  /** Ends threads idle for IDLE_THREAD_MS, keeping maxRunning of them for the next demoted run. */
  private reapIdle(): void {
    const now = performance.now();
    let keep = this.options.maxRunning;
    for (const s of [...this.slots]) {
      if (s.job) continue;
      if (keep > 0 || now - s.idleSince < IDLE_THREAD_MS) {
        keep--;
        continue;
      }
      this.remove(s);
      void s.worker.terminate();
    }
  }
}

function failed(
  kind: NonNullable<RunResult["error"]>["kind"],
  message: string,
  durationMs: number,
): RunResult {
  return {
    exitCode: 1,
    stdout: new Uint8Array(0),
    stderr: new Uint8Array(0),
    durationMs: Math.max(0, durationMs),
    error: { kind, message },
  };
}
