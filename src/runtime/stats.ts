import type { FunctionRecord, TriggerKind } from "../core/index.js";

/** Duration buckets, in seconds: the OpenTelemetry FaaS conventions' advice for `faas.invoke_duration`. */
export const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/**
 * The bounds counted, in seconds: finer ones below 5 ms first (a wasm function often answers in tens of µs, and
 * a p95 of "somewhere under 5 ms" tells the dashboard nothing), then DURATION_BUCKETS_S. /metrics exposes the
 * OpenTelemetry bounds only: cumulative counts at those bounds are the same either way.
 */
export const COUNTED_BOUNDS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, ...DURATION_BUCKETS_S];

/** What started an invocation (the OpenTelemetry `faas.trigger` idea, with Wasmlet's own sources). */
export const TRIGGERS = ["http", "api", "timer", "queue", "async"] as const;
export type Trigger = (typeof TRIGGERS)[number];

/**
 * How an invocation ended, for counting: `success` (the function answered, whatever its status), `error`
 * (trap, non-zero exit, memory or output over its cap, bad CGI output, image pull), `timeout`, `rejected`
 * (413 or 503: it never ran), `cancelled` (the caller went away).
 */
export const OUTCOMES = ["success", "error", "timeout", "rejected", "cancelled"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** One function version's counters for one trigger. */
export interface StatsEntry {
  readonly function: string;
  readonly version: number;
  readonly trigger: Trigger;
  /** Invocations by outcome, in OUTCOMES order. */
  readonly outcomes: number[];
  /** Non-cumulative counts per COUNTED_BOUNDS_S bucket, the last one for over the largest bound. */
  readonly buckets: number[];
  durationSum: number;
  durationCount: number;
  /** Invocations answered with a 5xx status (the function's own included): what a canary counts as failed. */
  serverErrors: number;
}

/**
 * A function's invocations, failed (5xx) ones, and durations (non-cumulative COUNTED_BOUNDS_S counts, the last
 * for over the largest), all versions and triggers, in this process so far.
 */
export type FunctionCounts = Record<string, { total: number; failed: number; buckets?: number[] }>;

/**
 * The counters behind the invocation metrics, written on every invocation. Written by hand instead of calling
 * prom-client's Counter/Histogram with labels per request: those build a label key on every call (measured here,
 * 2 M calls: 0.64–1.05 µs per invocation for the two, 1–2 % of an echo request's ~58 µs at X's rate), while this
 * is a WeakMap lookup by the function record the router already holds and a few array increments (0.01 µs). prom-client reads them at scrape
 * time (main/metrics.ts). Entries are never removed: counters must not go back.
 */
export class InvocationStats {
  private readonly byRecord = new WeakMap<FunctionRecord, StatsEntry[]>();
  private readonly all = new Map<string, StatsEntry>();
  private readonly coldStartsByKey = new Map<string, { function: string; version: number; n: number }>();

  record(fn: FunctionRecord, trigger: Trigger, outcome: Outcome, durationMs: number, status: number): void {
    let perTrigger = this.byRecord.get(fn);
    if (perTrigger === undefined) {
      perTrigger = [];
      this.byRecord.set(fn, perTrigger);
    }
    const t = TRIGGER_INDEX[trigger];
    let e = perTrigger[t];
    if (e === undefined) {
      e = this.entry(fn.name, fn.current.version, trigger);
      perTrigger[t] = e;
    }
    e.outcomes[OUTCOME_INDEX[outcome]]++;
    if (status >= 500) e.serverErrors++;
    const s = durationMs / 1000;
    let b = 0;
    while (b < COUNTED_BOUNDS_S.length && s > COUNTED_BOUNDS_S[b]) b++;
    e.buckets[b]++;
    e.durationSum += s;
    e.durationCount++;
  }

  /** Counts a cold start: the first run of a function version's digest in this process. */
  coldStart(fn: FunctionRecord): void {
    const key = `${fn.name}\u0000${fn.current.version}`;
    const c = this.coldStartsByKey.get(key);
    if (c) c.n++;
    else this.coldStartsByKey.set(key, { function: fn.name, version: fn.current.version, n: 1 });
  }

  /** Per function: invocations and 5xx answers so far (the canary controller's input). */
  counts(): FunctionCounts {
    const out: FunctionCounts = {};
    for (const e of this.all.values()) {
      const c = out[e.function] ?? {
        total: 0,
        failed: 0,
        buckets: new Array(COUNTED_BOUNDS_S.length + 1).fill(0),
      };
      c.total += e.durationCount;
      c.failed += e.serverErrors;
      for (let i = 0; i < e.buckets.length; i++) (c.buckets as number[])[i] += e.buckets[i];
      out[e.function] = c;
    }
    return out;
  }

  entries(): IterableIterator<StatsEntry> {
    return this.all.values();
  }

  coldStarts(): IterableIterator<{ function: string; version: number; n: number }> {
    return this.coldStartsByKey.values();
  }

  private entry(name: string, version: number, trigger: Trigger): StatsEntry {
    // A new record object of the same version (the store handed out a fresh copy) continues the same counters.
    const key = `${name}\u0000${version}\u0000${trigger}`;
    let e = this.all.get(key);
    if (e === undefined) {
      e = {
        function: name,
        version,
        trigger,
        outcomes: OUTCOMES.map(() => 0),
        buckets: new Array(COUNTED_BOUNDS_S.length + 1).fill(0),
        durationSum: 0,
        durationCount: 0,
        serverErrors: 0,
      };
      this.all.set(key, e);
    }
    return e;
  }
}

const TRIGGER_INDEX = Object.fromEntries(TRIGGERS.map((t, i) => [t, i])) as Record<Trigger, number>;
const OUTCOME_INDEX = Object.fromEntries(OUTCOMES.map((o, i) => [o, i])) as Record<Outcome, number>;

/** Sums the counts of several processes (the serve process and its router processes) into one. */
export function sumCounts(all: FunctionCounts[]): FunctionCounts {
  const sum: FunctionCounts = {};
  for (const counts of all)
    for (const [fn, c] of Object.entries(counts)) {
      const s = sum[fn] ?? { total: 0, failed: 0, buckets: new Array(COUNTED_BOUNDS_S.length + 1).fill(0) };
      s.total += c.total;
      s.failed += c.failed;
      c.buckets?.forEach((n, i) => {
        (s.buckets as number[])[i] += n;
      });
      sum[fn] = s;
    }
  return sum;
}

const TRIGGER_OF_KIND: Record<TriggerKind, Trigger> = { timer: "timer", mqt: "queue", async: "async" };

/** The metrics' trigger label of a request: what started it (a trigger's kind), else where it came from. */
export function metricsTrigger(req: { trigger?: { kind: TriggerKind }; source?: Trigger }): Trigger {
  return req.trigger ? TRIGGER_OF_KIND[req.trigger.kind] : (req.source ?? "http");
}
