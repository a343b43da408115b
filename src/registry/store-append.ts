import type { FileHandle } from "node:fs/promises";

/**
 * Bytes gathered before one disk write. An upload arrives in socket reads of ~20 KiB on loopback, and writing
 * each one was a thread-pool round trip of its own (~540 for 10 MB); at 1 MiB a batch it is ~10.
 */
export const APPEND_BATCH_BYTES = 1024 * 1024;
/** Chunks gathered before one disk write, whatever their size: a trickle of tiny reads stays a bounded list. */
const APPEND_BATCH_CHUNKS = 256;

/**
 * Appends chunks to an open file in batches, in order, one batch written while the next one fills. The caller
 * owns the file handle: it calls finish() (or settled() after a failure) before closing it.
 */
export class BatchedAppend {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The last write queued; each write starts after the one before it has ended. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly fh: FileHandle) {}

  /**
   * Queues a chunk (the caller must not change it afterwards). Returns undefined when the caller may go on at
   * once, or a promise to wait for before the next chunk: a full batch was queued behind a write still running,
   * and that promise ends with that write (rejecting if it failed), so at most two batches are ever held.
   */
  add(chunk: Buffer): Promise<void> | undefined {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < APPEND_BATCH_BYTES && this.pending.length < APPEND_BATCH_CHUNKS) return undefined;
    const before = this.tail;
    this.queue();
    return before;
  }

  /** Writes what is still gathered and resolves once every write has ended; rejects with a write's error. */
  async finish(): Promise<void> {
    if (this.pending.length > 0) this.queue();
    await this.tail;
  }

  /** Resolves once no write is running, whether they failed or not (before the handle is closed). */
  async settled(): Promise<void> {
    await this.tail.catch(() => {});
  }

  private queue(): void {
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.tail = this.tail.then(() => writeAll(this.fh, chunks));
    // Nobody may be waiting on this write yet (a client that hung up): its failure is seen by finish() or
    // dropped by settled(), never an unhandled rejection.
    this.tail.catch(() => {});
  }
}

/** One writev for the batch; libuv retries short writes itself, so fewer bytes written means the disk failed. */
async function writeAll(fh: FileHandle, chunks: Buffer[]): Promise<void> {
  const expected = chunks.reduce((n, c) => n + c.length, 0);
  const { bytesWritten } = await fh.writev(chunks);
  if (bytesWritten !== expected)
    throw new Error(`upload write: ${bytesWritten} of ${expected} bytes reached the disk`);
}
