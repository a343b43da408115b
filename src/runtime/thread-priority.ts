import { readlinkSync } from "node:fs";
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
