const EMPTY = new Uint8Array(0);
const INITIAL_CAPACITY = 4096;

/** Outputs up to this size are copied out by take() and the buffer is kept; bigger ones are handed over. */
const COPY_OUT_MAX = 64 * 1024;

/**
 * A growable output buffer (stdout, stderr) with a cap, reused across invocations. What take() returns is
 * the caller's: small outputs are copied out (one exact-size allocation, the buffer stays for the next
 * invocation); big ones are handed over without copying and the sink starts afresh.
 */
export class ByteSink {
  private buf: Uint8Array = EMPTY;
  private len = 0;

  /**
   * @param cap most bytes kept
   * @param keepTail when full, drop the oldest bytes (a log's tail matters most) instead of refusing
   */
  constructor(
    private cap: number,
    private readonly keepTail: boolean,
  ) {}

  /** Changes the cap for what is written from now on (a function's own output limit, per run). */
  setCap(cap: number): void {
    this.cap = cap;
  }

  get length(): number {
    return this.len;
  }

  /** Appends `n` bytes of `src` from `start`; false (nothing appended) when it would pass the cap. */
  append(src: Uint8Array, start: number, n: number): boolean {
    if (this.len + n > this.cap) {
      if (!this.keepTail) return false;
      this.appendTail(src, start, n);
      return true;
    }
    this.ensure(this.len + n);
    this.buf.set(src.subarray(start, start + n), this.len);
    this.len += n;
    return true;
  }

  /** The bytes written since the last take(); the sink forgets them. */
  take(): Uint8Array {
    if (this.len === 0) return EMPTY;
    if (this.len <= COPY_OUT_MAX) {
      // From node's Buffer pool below 4 KiB (a slice of a shared slab): slice() gave every response its own
      // ArrayBuffer, an off-heap allocation V8 tracks and sweeps one by one.
      const copy = Buffer.allocUnsafe(this.len);
      copy.set(this.buf.subarray(0, this.len));
      this.len = 0;
      return copy;
    }
    const out = this.buf.subarray(0, this.len);
    this.buf = EMPTY;
    this.len = 0;
    return out;
  }

  /** Forgets what was written, keeping the buffer for reuse (nothing was handed out). */
  clear(): void {
    this.len = 0;
  }

  private ensure(size: number): void {
    if (size <= this.buf.length) return;
    const capacity = Math.min(
      Math.max(size, this.buf.length * 2, INITIAL_CAPACITY),
      Math.max(this.cap, size),
    );
    const next = new Uint8Array(capacity);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private appendTail(src: Uint8Array, start: number, n: number): void {
    this.ensure(this.cap);
    if (n >= this.cap) {
      this.buf.set(src.subarray(start + n - this.cap, start + n), 0);
      this.len = this.cap;
      return;
    }
    const keep = this.cap - n;
    this.buf.copyWithin(0, this.len - keep, this.len);
    this.buf.set(src.subarray(start, start + n), keep);
    this.len = this.cap;
  }
}
