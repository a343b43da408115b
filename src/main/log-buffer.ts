import type { InvocationRecord } from "../runtime/index.js";
import type { NewLogEntry } from "../store/index.js";

/** Batches waiting for the writer before new ones are dropped (at 500 records each: 10,000 records). */
const MAX_PENDING_BATCHES = 20;

/** Numbers per record in PackedLogs.nums: function index, digest index, start time, status, duration. */
const STRIDE = 5;

/**
 * A batch of invocation records in columns: what crosses to the log writer thread. Structured-cloning 500
 * record objects cost ~1.4 µs per request on the request thread (plus the ISO time string and the stderr
 * decode per record, ~2 µs more); numbers in one transferable array and each name once cost a fraction of it.
 */
export interface PackedLogs {
  /** The batch's distinct function names and digests, referenced by index from `nums`. */
  strings: string[];
  /** STRIDE numbers per record: function index, digest index, start (epoch ms), status, duration (ms). */
  nums: Float64Array;
  /** Only the records that have them: [record index, stderr, error message]. */
  extras: [number, string, string | undefined][];
}

/** Rebuilds the store's entries from a packed batch (on the writer thread, or inline without one). */
export function unpackLogs(p: PackedLogs): NewLogEntry[] {
  const n = p.nums.length / STRIDE;
  const out: NewLogEntry[] = new Array(n);
  for (let i = 0, o = 0; i < n; i++, o += STRIDE) {
    out[i] = {
      function: p.strings[p.nums[o]],
      time: new Date(p.nums[o + 2]).toISOString(),
      status: p.nums[o + 3],
      durationMs: p.nums[o + 4],
      digest: p.strings[p.nums[o + 1]],
      stderr: "",
    };
  }
  for (const [i, stderr, error] of p.extras) {
    out[i].stderr = stderr;
    if (error !== undefined) out[i].error = error;
  }
  return out;
}

/**
 * Batches invocation records for the store: one transaction per flush instead of one per request, which
 * keeps SQLite off the request path. Flushes every `intervalMs`, or at once when `maxBatch` records wait.
 * `write` takes the packed batch: a LogWriterThread's `write` moves the transaction off this thread;
 * `(p) => store.appendLogs(unpackLogs(p))` writes inline.
 */
export class LogBuffer {
  private strings: string[] = [];
  private index = new Map<string, number>();
  private readonly nums: Float64Array;
  private count = 0;
  private extras: PackedLogs["extras"] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Batches handed to `write` and not stored yet. */
  private inFlight = 0;
  /** Records dropped since the last report, because the writer was MAX_PENDING_BATCHES behind. */
  private dropped = 0;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly write: (batch: PackedLogs) => Promise<void>,
    private readonly intervalMs = 100,
    private readonly maxBatch = 500,
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    this.nums = new Float64Array(maxBatch * STRIDE);
  }

  /** Called once per invocation on the request path; allocates nothing for a record without stderr or error. */
  readonly add = (r: InvocationRecord): void => {
    const o = this.count * STRIDE;
    this.nums[o] = this.intern(r.function);
    this.nums[o + 1] = this.intern(r.digest);
    this.nums[o + 2] = r.startedMs;
    this.nums[o + 3] = r.status;
    this.nums[o + 4] = r.durationMs;
    if (r.stderr.byteLength > 0 || r.error !== undefined)
      this.extras.push([this.count, this.decoder.decode(r.stderr), r.error]);
    this.count++;
    if (this.count >= this.maxBatch) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  };

  /** Writes what is buffered; resolves when it is stored. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0) return this.flushing;
    const batch: PackedLogs = {
      strings: this.strings,
      nums: this.nums.slice(0, this.count * STRIDE),
      extras: this.extras,
    };
    const records = this.count;
    this.strings = [];
    this.index = new Map();
    this.extras = [];
    this.count = 0;
    // A writer that cannot keep up (a disk that stalls, a machine saturated by requests) must not make the
    // request path buffer records without end: past the limit, new batches are dropped and counted.
    if (this.inFlight >= MAX_PENDING_BATCHES) {
      if (this.dropped === 0) {
        const report = () => {
          this.onError(
            new Error(`the log writer is behind: ${this.dropped} invocation records were dropped`),
          );
          this.dropped = 0;
        };
        this.flushing.then(report, report);
      }
      this.dropped += records;
      return this.flushing;
    }
    this.inFlight++;
    this.flushing = this.flushing
      .then(() => this.write(batch))
      .catch(this.onError)
      .finally(() => {
        this.inFlight--;
      });
    return this.flushing;
  }

  private intern(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}
