import type { NewLogEntry } from "../store/index.js";

/**
 * Batches invocation records for the store: one transaction per flush instead of one per request, which
 * keeps SQLite off the request path. Flushes every `intervalMs`, or at once when `maxBatch` records wait.
 * `write` is `store.appendLogs`, or a LogWriterThread's `write` to take the transaction off this thread.
 */
export class LogBuffer {
  private pending: NewLogEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (entries: NewLogEntry[]) => Promise<void>,
    private readonly intervalMs = 100,
    private readonly maxBatch = 500,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  readonly add = (entry: NewLogEntry): void => {
    this.pending.push(entry);
    if (this.pending.length >= this.maxBatch) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  };

  /** Writes what is buffered; resolves when it is stored. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (batch.length === 0) return this.flushing;
    this.pending = [];
    this.flushing = this.flushing.then(() => this.write(batch)).catch(this.onError);
    return this.flushing;
  }
}
