/**
 * The request thread's budget for one run (HybridExecutor's `mainBudgetMs`) is counted in this thread's CPU time
 * when a clock for it is given (the native addon's CLOCK_THREAD_CPUTIME_ID, set by serve), else in wall time.
 * Wall time counted the scheduler's pauses: on a loaded machine a 1 ms function whose thread was descheduled for
 * 40 ms was stopped, run again on a worker and kept on workers for 60 s — seen in this sitting's profiles of
 * BENCH=components and BENCH=events at load ~15, where both the module and the component were on workers, the
 * request path ~2.5x the CPU. Paused time holds every request on the thread up whatever runs, so it is not the
 * function's to pay; CPU it burns itself is. Cost: one clock read per run (~0.23 µs here).
 *
 * One run at a time per thread (runs on the request thread are synchronous), so the state is module-level.
 */

/** The most wall time a stretched budget may reach, in budgets: a bound on what one run holds the thread. */
const MAX_WALL_BUDGETS = 5;

let clock: (() => number) | undefined;
let cpuStart = 0;
let wallStart = 0;
let budgetMs = 0;

/** Gives the thread-CPU clock (ms; negative when unreadable). Without one, budgets are wall time. */
export function setThreadCpuClock(c: (() => number) | undefined): void {
  clock = c !== undefined && c() >= 0 ? c : undefined;
}

/** Starts the budget of a run on this thread at `now` (performance.now()); returns the wall time it ends at first. */
export function startBudget(now: number, ms: number): number {
  wallStart = now;
  budgetMs = ms;
  if (clock) cpuStart = clock();
  return now + ms;
}

/**
 * Past the budget's end by the wall clock at `now`: a later end when the run has used less CPU than its budget
 * (its thread was paused), never past MAX_WALL_BUDGETS budgets of wall time; undefined when the budget is spent.
 */
export function stretchBudget(now: number): number | undefined {
  if (!clock || budgetMs <= 0) return undefined;
  const limit = wallStart + MAX_WALL_BUDGETS * budgetMs;
  if (now >= limit) return undefined;
  const used = clock() - cpuStart;
  return used < budgetMs ? Math.min(now + (budgetMs - used), limit) : undefined;
}

/** What the current run has spent of its budget at `now`: its CPU time with a clock, else its wall time. */
export function budgetSpent(now: number): number {
  return clock ? clock() - cpuStart : now - wallStart;
}
