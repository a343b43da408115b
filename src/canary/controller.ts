import type { FunctionCounts } from "../runtime/index.js";
import type { CanaryEvent, CanaryRecord, Store } from "../store/index.js";

export interface CanaryControllerOptions {
  store: Store;
  /** Invocations and 5xx answers per function so far, summed over every process that serves (monotonic). */
  counts: () => Promise<FunctionCounts>;
  log?: (line: string) => void;
}

/** The most history events a canary keeps (the oldest go first). */
const MAX_HISTORY = 200;

/**
 * Runs canary releases: for each running canary, once per interval, looks at the new function's invocations since
 * the last decision (Wasmlet's own counters, no Prometheus needed) and moves the route's weights — up by `step`
 * while the failure rate is under the threshold with enough requests, to 0 at once (and the canary failed) when it
 * is over, unchanged with too few requests. Runs in the serve process only (one decision per interval, whatever
 * the number of router processes). State is in the store, so a restarted server carries on from the weights it
 * had; the counting window starts again at the restart.
 */
export class CanaryController {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Per canary: the new function's counts when its window began. */
  private readonly baselines = new Map<string, { total: number; failed: number }>();
  private unwatch: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly opts: CanaryControllerOptions) {}

  async start(): Promise<void> {
    this.unwatch = this.opts.store.watch((c) => {
      if (c.kind === "canary") void this.follow(c.name);
    });
    for (const c of await this.opts.store.list("canary")) await this.follow(c.name);
  }

  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** (Re)schedules a canary after a change: a running one gets a fresh window; any other is left alone. */
  private async follow(name: string): Promise<void> {
    const c = await this.opts.store.get("canary", name);
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
    if (c?.status !== "running" || this.stopped) {
      this.baselines.delete(name);
      return;
    }
    if (!this.baselines.has(name)) this.baselines.set(name, await this.countsOf(c.canary));
    this.schedule(c);
  }

  private schedule(c: CanaryRecord): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(c.name);
      this.decide(c.name).catch((e) =>
        this.log(`wasmlet: canary ${c.name}: ${e instanceof Error ? e.message : e}; retrying next interval`),
      );
    }, c.intervalMs);
    timer.unref();
    this.timers.set(c.name, timer);
  }

  private async countsOf(fn: string): Promise<{ total: number; failed: number }> {
    return (await this.opts.counts())[fn] ?? { total: 0, failed: 0 };
  }

  /** One interval's decision. */
  private async decide(name: string): Promise<void> {
    const { store } = this.opts;
    const c = await store.get("canary", name);
    if (c?.status !== "running" || this.stopped) return;
    try {
      const now = await this.countsOf(c.canary);
      let base = this.baselines.get(name) ?? now;
      // A counter that went back (a router process replaced) starts the window again.
      if (now.total < base.total || now.failed < base.failed) base = { total: 0, failed: 0 };
      const n = now.total - base.total;
      const failed = now.failed - base.failed;
      if (n < c.minRequests) return; // hold: the window goes on
      const rate = Math.round((1000 * 100 * failed) / n) / 1000;
      this.baselines.set(name, now);
      const route = await store.get("httptrigger", name);
      if (!route) {
        await this.finish(c, "failed", 0, `route ${name} was deleted`, rate, n);
        return;
      }
      if (rate > c.thresholdPct) {
        await this.setWeight(c, 0);
        await this.finish(
          c,
          "failed",
          0,
          `failure rate ${rate} % over the threshold of ${c.thresholdPct} %`,
          rate,
          n,
        );
        return;
      }
      const to = Math.min(100, c.weight + c.step);
      if (to >= 100) {
        // All traffic on the new function: the route calls it alone from now on.
        await store.update("httptrigger", name, { ...withoutWeights(route), function: c.canary });
        await this.finish(c, "succeeded", 100, "promoted to all traffic", rate, n);
        return;
      }
      await this.setWeight(c, to);
      await this.save(c, { ...c, weight: to }, { from: c.weight, to, reason: "healthy interval", rate, n });
    } finally {
      const after = await store.get("canary", name);
      if (after?.status === "running" && !this.timers.has(name)) this.schedule(after);
    }
  }

  private async setWeight(c: CanaryRecord, weight: number): Promise<void> {
    const route = await this.opts.store.get("httptrigger", c.name);
    if (!route) return;
    await this.opts.store.update("httptrigger", c.name, {
      ...route,
      function: route.function === c.canary ? c.stable : route.function,
      weights: { [c.stable]: 100 - weight, [c.canary]: weight },
    });
  }

  private async finish(
    c: CanaryRecord,
    status: "succeeded" | "failed",
    to: number,
    reason: string,
    rate: number,
    n: number,
  ): Promise<void> {
    await this.save(c, { ...c, status, weight: to }, { from: c.weight, to, reason, rate, n });
    this.log(
      `wasmlet: canary ${c.name} ${status}: ${reason} (${c.canary}, ${n} invocations, ${rate} % failed)`,
    );
  }

  private async save(old: CanaryRecord, next: CanaryRecord, event: Omit<CanaryEvent, "time">): Promise<void> {
    const time = new Date().toISOString();
    next.history = [...old.history, { time, ...event }].slice(-MAX_HISTORY);
    next.updatedAt = time;
    await this.opts.store.update("canary", old.name, next);
  }

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => console.error(l)))(line);
  }
}

function withoutWeights<T extends { weights?: unknown }>(t: T): T {
  const { weights: _, ...rest } = t;
  return rest as T;
}
