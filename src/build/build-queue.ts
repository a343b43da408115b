import { WasmletError } from "../core/index.js";
import type { Builder, BuildInput, BuildOutput } from "./types.js";

export interface BuildQueueOptions {
  /** Builds run at once; default 1 (a compiler uses a whole core, and the server needs the other). */
  concurrency?: number;
  /** Builds allowed to wait; one more is refused with OVERLOADED. Default 16. */
  maxQueued?: number;
  /** Time limit of each job that sets none, counted from when the job starts running. Default 120 s. */
  timeoutMs?: number;
}

interface Waiter {
  start(): void;
  cancel(): void;
}

/** A bounded queue of builds: at most `concurrency` running and `maxQueued` waiting, first come first served. */
export class BuildQueue {
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly timeoutMs?: number;
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(opts: BuildQueueOptions = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.maxQueued = Math.max(0, opts.maxQueued ?? 16);
    this.timeoutMs = opts.timeoutMs;
  }

  /** Builds running and waiting now (for status pages and tests). */
  get load(): { running: number; queued: number } {
    return { running: this.running, queued: this.waiting.length };
  }

  /**
   * Runs one build when a slot is free. Rejects at once with OVERLOADED when the queue is full; a job whose
   * signal aborts while it waits leaves the queue and rejects with BUILD_FAILED without running.
   */
  run(builder: Builder, input: BuildInput): Promise<BuildOutput> {
    const job = { ...input, timeoutMs: input.timeoutMs ?? this.timeoutMs };
    if (this.running < this.concurrency) return this.execute(builder, job);
    if (this.waiting.length >= this.maxQueued)
      return Promise.reject(
        new WasmletError(
          "OVERLOADED",
          `the build queue is full (${this.running} running, ${this.waiting.length} waiting): retry later`,
        ),
      );
    if (input.signal?.aborted) return Promise.reject(cancelled());
    return new Promise<BuildOutput>((resolve, reject) => {
      const onAbort = (): void => waiter.cancel();
      const waiter: Waiter = {
        start: () => {
          input.signal?.removeEventListener("abort", onAbort);
          this.execute(builder, job).then(resolve, reject);
        },
        cancel: () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(cancelled());
        },
      };
      input.signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private async execute(builder: Builder, input: BuildInput): Promise<BuildOutput> {
    this.running++;
    try {
      return await builder.build(input);
    } finally {
      this.running--;
      this.waiting.shift()?.start();
    }
  }
}

function cancelled(): WasmletError {
  return new WasmletError("BUILD_FAILED", "the build was cancelled while it waited in the queue");
}
