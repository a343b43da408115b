import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { setPriority } from "node:os";

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

/**
 * Lowers every other thread of the process that runs now to `nice` (never raises one already lower), keeping the
 * calling thread's priority. Called by serve on its request thread before it starts threads of its own, so what
 * it lowers are node's own threads: V8's platform workers (which run V8's background work — compiling wasm to
 * optimised code as functions get hot, concurrent marking and sweeping, helping scavenges), its delayed-task
 * thread, and libuv's pool once the module loader has started it (file system calls, the upload hashing and
 * prefaulting of the native addon): background work that should yield to requests. Threads started later
 * inherit the request thread's priority and set their own (pool workers, the log writer, the compile thread).
 * Why: on a 2-core machine a server that has just seen 1,000 distinct functions runs V8's tier-up of their hot code
 * for tens of seconds beside its requests; at the same priority those compile threads took the request thread's
 * core (it waited ~230 ms of every second for one in the density bench's first counted run) and the load's p99
 * was 65–75 ms in the first 10 s rotation after a mass deploy against 25–27 ms with them at nice 19 (a script of
 * the density bench, 2 servers each way, interleaved). Lowered threads still get every idle cycle.
 * Returns how many threads it lowered; 0 off Linux.
 */
export function lowerOtherThreads(nice: number): number {
  let self: number;
  let tids: number[];
  try {
    self = Number(readlinkSync("/proc/thread-self").split("/").pop());
    tids = readdirSync("/proc/self/task").map(Number);
  } catch {
    return 0;
  }
  let lowered = 0;
  for (const tid of tids) {
    if (tid === self) continue;
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
