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
 * Samples every function's counters (summed over the serving processes) every `everyMs` and keeps `windowMs` of
 * them, so the dashboard shows rates, error shares and percentiles over the last minutes without Prometheus.
 */
export class TrafficSampler {
  private readonly samples: Sample[] = [];
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
    this.samples.push(s);
    while (this.samples.length > 2 && s.at - this.samples[1].at >= this.windowMs) this.samples.shift();
  }

  summary(fn: string): TrafficSummary {
    const series: TrafficSummary["series"] = { t: [], rate: [], errors: [], p95: [] };
    const s = this.samples;
    let lastInvoked: number | undefined;
    for (let i = 1; i < s.length; i++) {
      const a = s[i - 1].counts[fn];
      const b = s[i].counts[fn];
      const dt = (s[i].at - s[i - 1].at) / 1000;
      const n = Math.max(0, (b?.total ?? 0) - (a?.total ?? 0));
      if (n > 0) lastInvoked = s[i].at;
      series.t.push(s[i].at);
      series.rate.push(dt > 0 ? n / dt : 0);
      series.errors.push(dt > 0 ? Math.max(0, (b?.failed ?? 0) - (a?.failed ?? 0)) / dt : 0);
      series.p95.push(quantileMs(minus(b?.buckets, a?.buckets), 0.95) ?? null);
    }
    const first = s[0]?.counts[fn];
    const last = s.at(-1)?.counts[fn];
    const n = Math.max(0, (last?.total ?? 0) - (first?.total ?? 0));
    const failed = Math.max(0, (last?.failed ?? 0) - (first?.failed ?? 0));
    const span = s.length > 1 ? ((s.at(-1) as Sample).at - s[0].at) / 1000 : 0;
    return {
      rate: span > 0 ? n / span : 0,
      errorPct: n > 0 ? (100 * failed) / n : 0,
      p95Ms: quantileMs(minus(last?.buckets, first?.buckets), 0.95),
      lastInvoked: lastInvoked === undefined ? undefined : new Date(lastInvoked).toISOString(),
      series,
    };
  }
}
