import { Worker } from "node:worker_threads";
import type { PackedLogs } from "./log-buffer.js";

/**
 * Appends log batches to the SQLite store from a worker thread with its own connection. A batch of 500
 * records is a synchronous transaction of several ms; on the request thread it stalled every request behind
 * it (p99) and cost ~10 % of its CPU with many functions in rotation.
 */
export class LogWriterThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 1;

  constructor(dataDir: string) {
    this.worker = new Worker(new URL("./log-writer-worker.js", import.meta.url), { workerData: { dataDir } });
    this.worker.on("message", (m: { id: number; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve();
      if (this.waiting.size === 0) this.worker.unref();
    });
    this.worker.on("error", (e) => this.failAll(e));
    this.worker.on("exit", () => this.failAll(new Error("the log writer thread exited")));
    this.worker.unref();
  }

  /** Resolves once the batch is committed. */
  readonly write = (batch: PackedLogs): Promise<void> =>
    new Promise((resolve, reject) => {
      const id = this.nextId++;
      // Referenced while a batch is in flight, so that a flush at shutdown completes before the process exits.
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, batch }, [batch.nums.buffer as ArrayBuffer]);
    });

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
