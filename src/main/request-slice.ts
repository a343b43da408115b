import { load } from "./malloc-tune.js";

/**
 * The shortest request-thread scheduler slice the kernel allows, in ns (`serve --request-slice-us 100`; off by
 * default: in BENCH=tails, 5 runs on a quiet machine, together with the busy-poll yield it went with X's p99 at
 * 80 % of peak from a median of 3.8 to 11.4 ms and X2's from 13 to 22 ms, so it is a tool to try, not a default). Linux's EEVDF scheduler (6.6+; per-thread slices since 6.12) gives
 * each runnable thread a virtual deadline one slice ahead, and a waking thread whose deadline is earlier than the
 * running one's preempts it. With the default slice (1.4 ms on this 2-CPU machine) a request thread that wakes
 * while a load generator, another router or a helper holds its CPU waits for that thread's slice to run out; with
 * the shortest slice the kernel allows (0.1 ms) it runs at once. It takes no extra CPU share (that is weight,
 * i.e. nice): the thread only gets its turns sooner and in shorter pieces, which suits work done in ~50 µs bites —
 * in theory; shorter pieces also mean more preemptions of the request thread itself.
 */
export const REQUEST_SLICE_NS = 100_000;

/**
 * Gives the calling thread (a router's request thread) the short slice. Returns the slice now in force, or 0 when
 * it could not be set (no addon, older kernel, a real-time policy): then the thread keeps the kernel's default.
 */
export function shortenRequestSlice(ns = REQUEST_SLICE_NS): number {
  try {
    return load()?.setSlice(ns) ?? 0;
  } catch {
    return 0;
  }
}
