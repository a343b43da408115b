import { INVOCATION_PREFIX, invocationId, type TriggerRef } from "../core/index.js";
import type { InvocationRecord } from "../runtime/index.js";
import type { DroppedLogs, NewLogEntry, Store } from "../store/index.js";

/** Batches waiting for the writer before new ones are dropped (at 500 records each: 10,000 records). */
const MAX_PENDING_BATCHES = 20;

/** Shortest time between two server log lines about dropped records (wrk -c512 dropped 26,500 in one run). */
const REPORT_EVERY_MS = 10_000;

/** Numbers per record in PackedLogs.nums: function index, digest index, start time, status, duration, invocation. */
const STRIDE = 6;

/**
 * A batch of invocation records in columns: what crosses to the log writer thread. Structured-cloning 500
 * record objects cost ~1.4 µs per request on the request thread (plus the ISO time string and the stderr
 * decode per record, ~2 µs more); numbers in one transferable array and each name once cost a fraction of it.
 */
export interface PackedLogs {
  /** The batch's distinct function names and digests, referenced by index from `nums`. */
  strings: string[];
  /** STRIDE numbers per record: function index, digest index, start (epoch ms), status, duration (ms), invocation. */
  nums: Float64Array;
  /** The id prefix of the process the records come from (invocation ids are `<prefix>-<invocation in base 36>`). */
  prefix: string;
  /** Only the records that have them: [record index, stderr, error message, traceparent, trigger]. */
  extras: [number, string, string | undefined, string | undefined, TriggerRef | undefined][];
  /** Records dropped since the last batch handed to the writer, by function; absent when none were. */
  dropped?: DroppedLogs;
}

/** Stores a packed batch: its records and the drop counts it carries, in one transaction. */
export function storeLogs(store: Store, p: PackedLogs): Promise<void> {
  return store.appendLogs(unpackLogs(p), p.dropped);
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
      invocationId: invocationId(p.nums[o + 5], p.prefix),
    };
  }
  for (const [i, stderr, error, traceparent, trigger] of p.extras) {
    out[i].stderr = stderr;
    if (error !== undefined) out[i].error = error;
    if (traceparent !== undefined) out[i].traceparent = traceparent;
    if (trigger !== undefined) out[i].trigger = trigger;
  }
  return out;
}

/**
 * Batches invocation records for the store: one transaction per flush instead of one per request, which
 * keeps SQLite off the request path. Flushes every `intervalMs`, or at once when `maxBatch` records wait.
 * `write` takes the packed batch: a LogWriterThread's `write` moves the transaction off this thread;
 * `(p) => storeLogs(store, p)` writes inline. Records dropped because the writer fell behind are counted:
 * per function in the next batch (`dropped`), and in a line to `onError` at most once per `reportEveryMs`.
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
  /** Records dropped (the writer was MAX_PENDING_BATCHES behind) and not yet in a batch, by function. */
  private dropped = new Map<string, number>();
  /** Records dropped since the buffer was made, by function (never reset: the metrics' counter). */
  readonly droppedTotal = new Map<string, number>();
  /** A flush waiting for the writer to catch up, so that drop counts reach it even if no record comes. */
  private retry: Promise<void> | undefined;
  /** Records dropped since the last line to `onError`, and when the first of them was. */
  private unreported = 0;
  private unreportedSinceMs = 0;
  private lastReportMs = Number.NEGATIVE_INFINITY;
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly write: (batch: PackedLogs) => Promise<void>,
    private readonly intervalMs = 100,
    private readonly maxBatch = 500,
    private readonly onError: (e: unknown) => void = () => {},
    private readonly reportEveryMs = REPORT_EVERY_MS,
  ) {
    this.nums = new Float64Array(maxBatch * STRIDE);
  }

  /** Called once per invocation on the request path; allocates nothing for a record without stderr, error or trigger. */
  readonly add = (r: InvocationRecord): void => {
    const o = this.count * STRIDE;
    this.nums[o] = this.intern(r.function);
    this.nums[o + 1] = this.intern(r.digest);
    this.nums[o + 2] = r.startedMs;
    this.nums[o + 3] = r.status;
    this.nums[o + 4] = r.durationMs;
    this.nums[o + 5] = r.invocation;
    if (
      r.stderr.byteLength > 0 ||
      r.error !== undefined ||
      r.traceparent !== undefined ||
      r.trigger !== undefined
    )
      this.extras.push([this.count, this.decoder.decode(r.stderr), r.error, r.traceparent, r.trigger]);
    this.count++;
    if (this.count >= this.maxBatch) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  };

  /** Writes what is buffered, and the counts of dropped records; resolves when they are stored. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0 && this.dropped.size === 0) return this.flushing;
    // A writer that cannot keep up (a disk that stalls, a machine saturated by requests) must not make the
    // request path buffer records without end: past the limit, new batches are dropped and counted. The counts
    // go with the next batch the writer takes: this retries once it has caught up, if no record comes first.
    if (this.inFlight >= MAX_PENDING_BATCHES) {
      this.drop();
      this.retry ??= this.flushing.then(() => {
        this.retry = undefined;
        return this.flush();
      });
      return this.retry;
    }
    const batch: PackedLogs = {
      strings: this.strings,
      nums: this.nums.slice(0, this.count * STRIDE),
      prefix: INVOCATION_PREFIX,
      extras: this.extras,
      dropped: this.dropped.size > 0 ? Object.fromEntries(this.dropped) : undefined,
    };
    this.clear();
    this.dropped = new Map();
    this.inFlight++;
    this.flushing = this.flushing
      .then(() => this.write(batch))
      .catch((e: unknown) => {
        // The batch's records are lost (the error says so); its counts are not: the next batch carries them.
        for (const [fn, n] of Object.entries(batch.dropped ?? {})) this.countDropped(fn, n);
        this.onError(e);
      })
      .finally(() => {
        this.inFlight--;
      });
    return this.flushing;
  }

  /** Drops the buffered records, counted per function and for the next report. */
  private drop(): void {
    const records = this.count;
    if (records === 0) return;
    const perString = new Array<number>(this.strings.length).fill(0);
    for (let o = 0; o < records * STRIDE; o += STRIDE) perString[this.nums[o]]++;
    for (let i = 0; i < perString.length; i++)
      if (perString[i] > 0) {
        this.countDropped(this.strings[i], perString[i]);
        this.droppedTotal.set(this.strings[i], (this.droppedTotal.get(this.strings[i]) ?? 0) + perString[i]);
      }
    this.clear();
    const now = performance.now();
    if (this.unreported === 0) this.unreportedSinceMs = now;
    this.unreported += records;
    if (this.reportTimer !== undefined) return;
    const wait = this.lastReportMs + this.reportEveryMs - now;
    if (wait <= 0) this.report();
    else this.reportLater(wait);
  }

  /** Reports once `wait` ms have passed; a timer that fires early (node's timers may, by a ms) waits the rest. */
  private reportLater(wait: number): void {
    this.reportTimer = setTimeout(() => {
      const left = this.lastReportMs + this.reportEveryMs - performance.now();
      if (left > 0) this.reportLater(left);
      else this.report();
    }, Math.ceil(wait));
    this.reportTimer.unref();
  }

  private countDropped(fn: string, n: number): void {
    this.dropped.set(fn, (this.dropped.get(fn) ?? 0) + n);
  }

  private report(): void {
    this.reportTimer = undefined;
    this.lastReportMs = performance.now();
    const span = this.lastReportMs - this.unreportedSinceMs;
    const over = span >= 1000 ? ` over ${Math.round(span / 1000)} s` : "";
    const records = this.unreported;
    this.unreported = 0;
    this.onError(
      new Error(
        `the log writer is behind: ${records} invocation records dropped${over} (\`wasmlet fn logs\` shows each function's count)`,
      ),
    );
  }

  private clear(): void {
    this.strings = [];
    this.index = new Map();
    this.extras = [];
    this.count = 0;
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
