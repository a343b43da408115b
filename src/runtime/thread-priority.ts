import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { availableParallelism, setPriority } from "node:os";
import { nodeFlags } from "../core/index.js";

/**
 * Lowers the scheduling priority of the calling thread only (Linux: setpriority() on its thread id, found
 * through /proc/thread-self). Called at the start of helper threads — the log writer, the pool workers — so that
 * when they wake up with work they do not take the core from the thread that serves requests: on this 2-core
 * machine a log batch's SQLite transaction preempted the router thread every 500 requests, and those pauses
 * were the tail of the latency under load. Elsewhere (no /proc/thread-self) it does nothing.
 * Returns whether the priority was changed.
 */
export function lowerThreadPriority(nice: number): boolean {
  let tid: number;
  try {
    tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  } catch {
    return false;
  }
  if (!Number.isInteger(tid) || tid <= 0) return false;
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/** A thread's nice value: field 19 of /proc/self/task/<tid>/stat (after the parenthesised name). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

/** How many platform workers node gave V8: `--v8-pool-size` from node's flags or NODE_OPTIONS, else node's 4. */
export function v8PoolSize(flags: readonly string[] = nodeFlags()): number {
  let n = 4;
  for (let i = 0; i < flags.length; i++) {
    const m = /^--v8-pool-size(?:=(.*))?$/.exec(flags[i]);
    if (m) n = Number(m[1] ?? flags[i + 1]);
  }
  // Below 1, node sizes the pool from the CPUs it may use (one fewer, at least one).
  if (!Number.isInteger(n) || n < 1) return Math.max(1, availableParallelism() - 1);
  return n;
}

/**
 * Node's V8 threads, by thread id: node starts them before any JavaScript runs, right after the main thread — V8's
 * delayed-task thread, then its `poolSize` platform workers — so they are the 1 + poolSize ids that follow the
 * main thread's (allocated in order; counted across a wrap of the id space). The threads after them are node's
 * inspector signal thread and libuv's pool, which serve the requests' own I/O (reading images, DNS lookups of
 * outbound calls) and keep the request thread's priority. Call on the main thread; [] off Linux.
 */
export function v8PlatformThreads(poolSize = v8PoolSize()): number[] {
  let tids: number[];
  let pidMax = 4_194_304;
  try {
    tids = readdirSync("/proc/self/task").map(Number);
    pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8")) || pidMax;
  } catch {
    return [];
  }
  const main = process.pid;
  const after = (tid: number) => (tid - main + pidMax) % pidMax;
  return tids
    .filter((t) => t !== main)
    .sort((a, b) => after(a) - after(b))
    .slice(0, 1 + poolSize);
}

/**
 * Lowers node's V8 threads (v8PlatformThreads) to `nice`, never raising one already lower; the calling thread and
 * every other thread keep their priority. Those threads run V8's background work: compiling hot wasm functions to
 * optimised code (tier-up), concurrent marking and sweeping, helping scavenges. Called by `serve --helper-nice`
 * at start in each process that serves requests; threads started later (pool workers, the log writer, the compile
 * thread) are not V8's and set their own. The request thread also waits for these threads (parallel phases of a
 * collection, a compile it joins), so lowered they cost it time when other processes keep the cores busy: see
 * DEFAULT_HELPER_NICE.
 * Why: on a 2-core machine a server that has just seen 1,000 distinct functions runs V8's tier-up of their hot code
 * for tens of seconds beside its requests; at the same priority those threads took the request thread's core (it
 * waited ~230 ms of every second for one in the density bench's first counted run) and the load's p99 was 65–75 ms
 * in the first 10 s rotation after a mass deploy against 25–27 ms with them at nice 19 (a script of the density
 * bench, 2 servers each way, interleaved). Lowered threads still get every idle cycle.
 * Returns how many threads it lowered; 0 off Linux.
 */
export function lowerV8Threads(nice: number): number {
  let lowered = 0;
  for (const tid of v8PlatformThreads()) {
    try {
      if (niceOf(tid) >= nice) continue;
      setPriority(tid, nice);
      lowered++;
    } catch {
      // The thread ended meanwhile, or the priority cannot be changed here: it keeps its own.
    }
  }
  return lowered;
}
