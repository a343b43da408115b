import { COUNTED_BOUNDS_S, type FunctionCounts } from "../runtime/index.js";

/** One function's recent traffic, as the dashboard shows it. */
export interface TrafficSummary {
  /** Invocations per second over the window. */
  rate: number;
  /** Share of 5xx answers over the window, in percent (0 without traffic). */
  errorPct: number;
  /** 95th percentile of the duration over the window, in ms (from the histogram; undefined without traffic). */
  p95Ms?: number;
  /** When the counters last moved (to the sampling interval), ISO time. */
  lastInvoked?: string;
  /** Per sampling interval: its end (epoch ms), invocations per second, 5xx per second, p95 (ms or null). */
  series: { t: number[]; rate: number[]; errors: number[]; p95: (number | null)[] };
}

interface Sample {
  at: number;
  counts: FunctionCounts;
}

/** The duration under which `q` of the invocations counted in `buckets` (non-cumulative) fell, interpolated. */
export function quantileMs(buckets: number[], q: number): number | undefined {
  const n = buckets.reduce((a, b) => a + b, 0);
  if (n === 0) return undefined;
  const want = q * n;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (seen + buckets[i] >= want && buckets[i] > 0) {
      if (i >= COUNTED_BOUNDS_S.length) return COUNTED_BOUNDS_S[COUNTED_BOUNDS_S.length - 1] * 1000;
      const lo = i === 0 ? 0 : COUNTED_BOUNDS_S[i - 1];
      const hi = COUNTED_BOUNDS_S[i];
      return (lo + ((want - seen) / buckets[i]) * (hi - lo)) * 1000;
    }
    seen += buckets[i];
  }
  return undefined;
}

const minus = (a: number[] | undefined, b: number[] | undefined): number[] =>
  (a ?? []).map((x, i) => Math.max(0, x - (b?.[i] ?? 0)));

/**
 * A sample as kept: its time and what the functions whose counters moved since the one before did, in typed
 * arrays — no object per function, so a sample is neither traced by the collector nor ~300 bytes per function.
 * Entry k is the function numbered `ids[k]` (ascending): `vals[3k]`, `vals[3k + 1]`, `vals[3k + 2]` are its
 * invocations, 5xx answers and p95 in ms (NaN: none timed), and `pairs[starts[k]]` up to `pairs[starts[k + 1]]`
 * its non-zero duration counts as (bucket index, count) pairs.
 */
interface Interval {
  at: number;
  ids: Int32Array;
  vals: Float64Array;
  starts: Uint32Array;
  pairs: Uint32Array;
}

/** A function's totals over the window (the intervals after the oldest sample), kept as intervals come and go. */
interface WindowTotals {
  n: number;
  failed: number;
  buckets: number[];
}

/**
 * Samples every function's counters (summed over the serving processes) every `everyMs` and keeps `windowMs` of
 * them, so the dashboard shows rates, error shares and percentiles over the last minutes without Prometheus.
 * A sample keeps only the functions whose counters moved in its interval, as deltas in typed arrays, and each
 * function's totals over the window are kept up to date as intervals come and go. Keeping every sample's full
 * counts instead, as this did, held 43 MiB of heap for 1,000 functions invoked between samples and 458 MiB for
 * 10,000 (150 samples; `BENCH=metrics`), which the request thread's collector had to trace.
 */
export class TrafficSampler {
  /** The samples in the window, oldest first; the oldest one's own interval is not in the window. */
  private readonly intervals: Interval[] = [];
  /** The newest sample's counts: the next one is compared with it. */
  private last: FunctionCounts | undefined;
  /** Each function's number in the intervals, given when its counters first move. */
  private readonly ids = new Map<string, number>();
  private readonly totals = new Map<number, WindowTotals>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly counts: () => Promise<FunctionCounts>,
    readonly everyMs = 2000,
    readonly windowMs = 5 * 60_000,
  ) {}

  start(): void {
    const take = () => {
      this.counts().then(
        (counts) => this.add({ at: Date.now(), counts }),
        () => {},
      );
    };
    take();
    this.timer = setInterval(take, this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Adds a sample (the timer does; tests call it with their own times). */
  add(s: Sample): void {
    const moved: { id: number; n: number; failed: number; delta: number[] }[] = [];
    const before = this.last;
    if (before !== undefined)
      for (const fn in s.counts) {
        const now = s.counts[fn];
        const was = before[fn];
        // Counters only go up; a function whose counts went down (a router process replaced) counts from there.
        const n = Math.max(0, now.total - (was?.total ?? 0));
        const failed = Math.max(0, now.failed - (was?.failed ?? 0));
        if (n === 0 && failed === 0) continue;
        let id = this.ids.get(fn);
        if (id === undefined) {
          id = this.ids.size;
          this.ids.set(fn, id);
        }
        moved.push({ id, n, failed, delta: minus(now.buckets, was?.buckets) });
      }
    this.last = s.counts;
    moved.sort((x, y) => x.id - y.id);
    let npairs = 0;
    for (const m of moved) for (const c of m.delta) if (c > 0) npairs++;
    const it: Interval = {
      at: s.at,
      ids: new Int32Array(moved.length),
      vals: new Float64Array(moved.length * 3),
      starts: new Uint32Array(moved.length + 1),
      pairs: new Uint32Array(npairs * 2),
    };
    let p = 0;
    for (let k = 0; k < moved.length; k++) {
      const m = moved[k];
      it.ids[k] = m.id;
      it.vals[3 * k] = m.n;
      it.vals[3 * k + 1] = m.failed;
      it.vals[3 * k + 2] = quantileMs(m.delta, 0.95) ?? Number.NaN;
      it.starts[k] = p;
      for (let i = 0; i < m.delta.length; i++)
        if (m.delta[i] > 0) {
          it.pairs[p++] = i;
          it.pairs[p++] = m.delta[i];
        }
      let t = this.totals.get(m.id);
      if (t === undefined) {
        t = { n: 0, failed: 0, buckets: new Array(COUNTED_BOUNDS_S.length + 1).fill(0) };
        this.totals.set(m.id, t);
      }
      t.n += m.n;
      t.failed += m.failed;
      for (let i = 0; i < m.delta.length; i++) t.buckets[i] += m.delta[i];
    }
    it.starts[moved.length] = p;
    this.intervals.push(it);
    // The oldest sample goes once the one after it is a window old; the interval that ends at the new oldest
    // sample leaves the window with it.
    while (this.intervals.length > 2 && s.at - this.intervals[1].at >= this.windowMs) {
      this.intervals.shift();
      const gone = this.intervals[0];
      this.takeAway(gone);
      this.intervals[0] = { at: gone.at, ...EMPTY_INTERVAL };
    }
  }

  summary(fn: string): TrafficSummary {
    const series: TrafficSummary["series"] = { t: [], rate: [], errors: [], p95: [] };
    const s = this.intervals;
    const id = this.ids.get(fn);
    let lastInvoked: number | undefined;
    for (let i = 1; i < s.length; i++) {
      const k = id === undefined ? -1 : find(s[i].ids, id);
      const n = k < 0 ? 0 : s[i].vals[3 * k];
      const failed = k < 0 ? 0 : s[i].vals[3 * k + 1];
      const p95 = k < 0 ? Number.NaN : s[i].vals[3 * k + 2];
      const dt = (s[i].at - s[i - 1].at) / 1000;
      if (n > 0) lastInvoked = s[i].at;
      series.t.push(s[i].at);
      series.rate.push(dt > 0 ? n / dt : 0);
      series.errors.push(dt > 0 ? failed / dt : 0);
      series.p95.push(Number.isNaN(p95) ? null : p95);
    }
    const t = id === undefined ? undefined : this.totals.get(id);
    const n = t?.n ?? 0;
    const span = s.length > 1 ? ((s.at(-1) as Interval).at - s[0].at) / 1000 : 0;
    return {
      rate: span > 0 ? n / span : 0,
      errorPct: n > 0 ? (100 * (t?.failed ?? 0)) / n : 0,
      p95Ms: t === undefined ? undefined : quantileMs(t.buckets, 0.95),
      lastInvoked: lastInvoked === undefined ? undefined : new Date(lastInvoked).toISOString(),
      series,
    };
  }

  /** Takes an interval that leaves the window out of its functions' window totals. */
  private takeAway(gone: Interval): void {
    for (let k = 0; k < gone.ids.length; k++) {
      const t = this.totals.get(gone.ids[k]);
      if (t === undefined) continue;
      t.n -= gone.vals[3 * k];
      t.failed -= gone.vals[3 * k + 1];
      for (let p = gone.starts[k]; p < gone.starts[k + 1]; p += 2)
        t.buckets[gone.pairs[p]] -= gone.pairs[p + 1];
      if (t.n === 0 && t.failed === 0) this.totals.delete(gone.ids[k]);
    }
  }
}

const EMPTY_INTERVAL = {
  ids: new Int32Array(0),
  vals: new Float64Array(0),
  starts: new Uint32Array(1),
  pairs: new Uint32Array(0),
};

/** Entry index of `id` in the ascending `ids`, or -1. */
function find(ids: Int32Array, id: number): number {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] === id) return mid;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
