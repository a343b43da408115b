import { applyRouterCpus, routerCpus } from "../runtime/index.js";

/** How often a pinned process looks for threads started since (libuv's pool starts lazily on the main CPU). */
const SWEEP_MS = 5000;

/**
 * `serve --cpu-affinity auto` in a router process: its request thread alone on a CPU, its other threads (and
 * worker threads started later) on the rest. Says what it did, or why not, through `log`; returns whether it pinned.
 */
export function pinRouterThreads(index: number, routers: number, log: (line: string) => void): boolean {
  const plan = routerCpus(index, routers);
  if (!plan) {
    log("wasmlet: --cpu-affinity auto: a single CPU, nothing to pin");
    return false;
  }
  const applied = applyRouterCpus(plan);
  if (!applied) {
    log(
      "wasmlet: --cpu-affinity auto: could not pin the request thread (no taskset, or not Linux); threads float",
    );
    return false;
  }
  setInterval(applied.sweep, SWEEP_MS).unref();
  log(
    `wasmlet: request thread${routers > 1 ? ` of router ${index + 1}` : ""} on CPU ${plan.request}, its other threads on CPU ${plan.helpers.join(",")}`,
  );
  return true;
}
