import { setFlagsFromString } from "node:v8";
import { isMainThread } from "node:worker_threads";
import { WasmletError } from "../core/index.js";
import { capMemories } from "./component.js";

// Compile every function of a module when it is prepared (at deploy), not at its first call: V8's lazy
// compilation moved that cost onto first requests — measured here, a new function's first request 1.5 ms
// instead of 0.7 ms, and p99 127 ms instead of 26 ms when 600 functions are first hit in rotation.
// The flag is process-wide and read at compile time, so it is set before anything is compiled (this module is
// loaded by the runtime and the API, before either compiles anything). Only by the main thread: a worker that
// loads this module (the rewrite's) must not turn the flag off under a lazy compile of the main thread's.
if (isMainThread) setFlagsFromString("--no-wasm-lazy-compilation");

/**
 * Modules at least this large compile lazily: V8 validates them at once and compiles each function (Liftoff) on
 * its first call. Eager compilation of a 30 MB module (bench large) took 0.8 s of CPU on an idle machine and
 * 6.6 s on a busy one, and its machine code added ~130 MiB of RSS per function, most of it for functions a call
 * never reaches (a large program uses a part of itself per run); lazily, V8 validated it in 30-60 ms here.
 */
export const LAZY_COMPILE_MIN_BYTES = 4 * 1024 * 1024;

/**
 * Compiles `bytes` lazily (see LAZY_COMPILE_MIN_BYTES). V8 reads its lazy-compilation flag (process-wide) while
 * compiling: the module is compiled synchronously with the flag on, so no other compilation of this thread can
 * run meanwhile and see it (an asynchronous compile reads the flag later, on V8's threads). The compile thread's
 * compiles may; they are all lazy anyway. Throws V8's CompileError.
 */
export function compileLazily(bytes: Uint8Array): WebAssembly.Module {
  lazyOn();
  try {
    return new WebAssembly.Module(bytes as BufferSource);
  } finally {
    lazyOff();
  }
}

/** Slots of the flag's state (below): the lock, then how many holds each thread that takes them has. */
const LOCK = 0;
const HOLDS = 1;

/** Threads that may hold the flag: the main thread (slot 0) and the compile thread (slot 1, compile-thread.ts). */
const LAZY_FLAG_SLOTS = 2;

/**
 * Holders of the lazy flag (compileLazily, a streaming compile's window), across the process's threads, since the
 * flag is the process's and the compile thread opens windows too: [HOLDS + slot] is how many a thread has (the
 * flag is on while any has one), [LOCK] the slot + 1 of the thread changing them, 0 when none is. The compile
 * thread adopts the main thread's state (adoptLazyFlag); a thread that ended has its holds dropped
 * (dropLazyHolds).
 */
let lazyState = new Int32Array(new SharedArrayBuffer(4 * (HOLDS + LAZY_FLAG_SLOTS)));
let slot = 0;

/** The state a thread that opens lazy windows must adopt (adoptLazyFlag). */
export function lazyFlagState(): SharedArrayBuffer {
  return lazyState.buffer as SharedArrayBuffer;
}

/** Makes this thread's lazyOn/lazyOff count with the main thread's (its lazyFlagState), as `threadSlot`. */
export function adoptLazyFlag(state: SharedArrayBuffer, threadSlot: number): void {
  if (threadSlot < 1 || threadSlot >= LAZY_FLAG_SLOTS)
    throw new RangeError(`no lazy flag slot ${threadSlot}`);
  lazyState = new Int32Array(state);
  slot = threadSlot;
}

/** How many holds of the flag there are, over every thread. */
export function lazyHolders(): number {
  let n = 0;
  for (let i = 0; i < LAZY_FLAG_SLOTS; i++) n += Atomics.load(lazyState, HOLDS + i);
  return n;
}

/**
 * The lock is held for one setFlagsFromString at most (microseconds); held longer than this, its holder ended
 * while holding it (a terminated thread runs no `finally`), and it is taken over.
 */
const LOCK_STALE_MS = 1000;

/** Runs `f` holding the flag's lock. */
function withFlagLock(f: () => void): void {
  const me = slot + 1;
  let since: number | undefined;
  for (;;) {
    const owner = Atomics.compareExchange(lazyState, LOCK, 0, me);
    if (owner === 0) break;
    since ??= performance.now();
    if (
      performance.now() - since > LOCK_STALE_MS &&
      Atomics.compareExchange(lazyState, LOCK, owner, me) === owner
    )
      break;
    Atomics.wait(lazyState, LOCK, owner, 1);
  }
  try {
    f();
  } finally {
    Atomics.store(lazyState, LOCK, 0);
    Atomics.notify(lazyState, LOCK, 1);
  }
}

function setLazy(on: boolean): void {
  setFlagsFromString(on ? "--wasm-lazy-compilation" : "--no-wasm-lazy-compilation");
}

/** Turns V8's lazy compilation on until the matching lazyOff. */
export function lazyOn(): void {
  withFlagLock(() => {
    const before = lazyHolders();
    Atomics.add(lazyState, HOLDS + slot, 1);
    if (before === 0) setLazy(true);
  });
}

export function lazyOff(): void {
  withFlagLock(() => {
    Atomics.sub(lazyState, HOLDS + slot, 1);
    if (lazyHolders() === 0) setLazy(false);
  });
}

/**
 * Drops the holds of the thread in `threadSlot`, which ended (a thread terminated in a window runs no `finally`:
 * its hold would have kept every later compile of the process lazy), and sets the flag to what the others hold.
 */
export function dropLazyHolds(threadSlot: number): void {
  withFlagLock(() => {
    Atomics.store(lazyState, HOLDS + threadSlot, 0);
    setLazy(lazyHolders() > 0);
  });
}

/** A large core module as uploaded, with its memories capped, compiled lazily: what runs it until its rewrite. */
export interface CappedModule {
  module: WebAssembly.Module;
  /** The cap, in 64 KiB pages. */
  maxMemoryPages: number;
}

/**
 * Validates a large core module the way V8 does, by compiling it lazily with its memories capped at
 * `maxMemoryPages` (capMemories) — the form the runtime runs it in until its rewrite is done —, so a server that
 * checks an upload and then runs it compiles it once (the check alone took as long, ~45 ms for 30 MB here).
 * Throws INVALID_MODULE with V8's reason.
 */
export function compileCapped(bytes: Uint8Array, maxMemoryPages: number): CappedModule {
  const capped = capMemories(bytes, maxMemoryPages);
  try {
    return { module: compileLazily(capped), maxMemoryPages };
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/^WebAssembly\.Module\(\): /, "") : String(e);
    throw new WasmletError("INVALID_MODULE", `not a WebAssembly module: the binary is invalid (${reason})`);
  }
}
