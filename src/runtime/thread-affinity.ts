import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * CPU affinity of single threads (Linux). Node has no API for it, and the optional native addon may be absent, so
 * this runs util-linux's `taskset -pc LIST TID` (in every Debian base system) — a few ms per thread, paid at start
 * and when a new thread appears, never per request. Elsewhere every function here does nothing and says so.
 *
 * Why serve pins threads at all (`--cpu-affinity auto`): some virtual machines' schedulers pack runnable threads
 * onto as few vCPUs as they can (this one: the `sched_vcpu_pack` sysctl, not writable from the guest). A request
 * thread then shares its vCPU with whatever else is running — a load generator, the process's own helper threads
 * — while the other vCPU idles, and its latency follows that other thread's bursts. A thread pinned to its own
 * CPU cannot be packed; helper threads pinned elsewhere cannot land on it.
 */

/** The calling thread's id (its directory under /proc), or undefined off Linux. */
export function currentTid(): number | undefined {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** The CPUs this process may run on (Cpus_allowed_list of /proc/self/status), ascending; [] when unknown. */
export function allowedCpus(status?: string): number[] {
  let text = status;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/status", "utf8");
    } catch {
      return [];
    }
  }
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(text);
  return m ? parseCpuList(m[1]) : [];
}

/** "0-2,5" → [0, 1, 2, 5]; throws on anything else. */
export function parseCpuList(list: string): number[] {
  const out = new Set<number>();
  for (const part of list.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`not a CPU list: "${list}" (expected e.g. 0-2,5)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`not a CPU list: "${list}" (range ${part} goes down)`);
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** Restricts one thread (default: the calling one) to `cpus`. Returns whether it was done. */
export function pinThread(cpus: readonly number[], tid = currentTid()): boolean {
  if (tid === undefined || cpus.length === 0) return false;
  try {
    execFileSync("taskset", ["-pc", cpus.join(","), String(tid)], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** Where one router process's threads go: its request thread alone on `request`, the others on `helpers`. */
export interface RouterCpus {
  request: number;
  helpers: number[];
}

/**
 * The CPU plan for router `index` of `routers`: router i's request thread on the i-th allowed CPU (wrapping), the
 * process's other threads on the CPUs no router uses, or on all of them when the routers use every CPU. Undefined
 * when there is a single CPU (nothing to separate).
 */
export function routerCpus(index: number, routers: number, cpus = allowedCpus()): RouterCpus | undefined {
  if (cpus.length < 2) return undefined;
  const used = new Set(Array.from({ length: Math.min(routers, cpus.length) }, (_, i) => cpus[i]));
  const rest = cpus.filter((c) => !used.has(c));
  return { request: cpus[index % cpus.length], helpers: rest.length > 0 ? rest : cpus };
}

/** Environment variable through which worker threads learn the helper CPUs (they pin themselves at start). */
export const HELPER_CPUS_ENV = "WASMLET_HELPER_CPUS";

/**
 * Applies a plan in the calling process: the main thread on `plan.request`, every other current thread on
 * `plan.helpers`; worker threads started later pin themselves (pinHelperThread) from HELPER_CPUS_ENV, and
 * threads that appear otherwise (libuv's pool, started lazily on the main thread's CPU) are moved by the
 * returned `sweep`, which serve calls now and then. Returns undefined when the main thread could not be pinned.
 */
export function applyRouterCpus(plan: RouterCpus): { sweep: () => number } | undefined {
  const pid = process.pid;
  if (!pinThread([plan.request], pid)) return undefined;
  process.env[HELPER_CPUS_ENV] = plan.helpers.join(",");
  const seen = new Set<number>([pid]);
  const sweep = (): number => {
    let moved = 0;
    let tids: string[];
    try {
      tids = readdirSync("/proc/self/task");
    } catch {
      return 0;
    }
    for (const t of tids) {
      const tid = Number(t);
      if (seen.has(tid)) continue;
      seen.add(tid);
      if (pinThread(plan.helpers, tid)) moved++;
    }
    return moved;
  };
  sweep();
  return { sweep };
}

/** Called first thing in a worker thread: moves it onto the helper CPUs when serve planned them. */
export function pinHelperThread(): boolean {
  const list = process.env[HELPER_CPUS_ENV];
  if (!list) return false;
  try {
    return pinThread(parseCpuList(list));
  } catch {
    return false;
  }
}
