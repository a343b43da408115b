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
 * compiling: the module is compiled synchronously with the flag on, so no other compilation can run meanwhile
 * and see it (an asynchronous compile reads the flag later, on V8's threads). Throws V8's CompileError.
 */
export function compileLazily(bytes: Uint8Array): WebAssembly.Module {
  lazyOn();
  try {
    return new WebAssembly.Module(bytes as BufferSource);
  } finally {
    lazyOff();
  }
}

/**
 * Holders of the lazy flag (compileLazily, a streaming compile's window), across the process's threads: [0] is how
 * many there are (the flag is on while there is one), [1] a lock taken around changing it, since the flag is the
 * process's and the compile thread (compile-thread.ts) opens windows too. Its threads adopt the main thread's
 * state (adoptLazyFlag).
 */
let lazyState = new Int32Array(new SharedArrayBuffer(8));

/** The state a thread that opens lazy windows must adopt (adoptLazyFlag). */
export function lazyFlagState(): SharedArrayBuffer {
  return lazyState.buffer as SharedArrayBuffer;
}

/** Makes this thread's lazyOn/lazyOff count with the main thread's (its lazyFlagState). */
export function adoptLazyFlag(state: SharedArrayBuffer): void {
  lazyState = new Int32Array(state);
}

/** Runs `f` holding the flag's lock: held for a setFlagsFromString at most, so waiting for it is brief. */
function withFlagLock(f: () => void): void {
  while (Atomics.compareExchange(lazyState, 1, 0, 1) !== 0) Atomics.wait(lazyState, 1, 1, 1);
  try {
    f();
  } finally {
    Atomics.store(lazyState, 1, 0);
    Atomics.notify(lazyState, 1, 1);
  }
}

/** Turns V8's lazy compilation on until the matching lazyOff. */
export function lazyOn(): void {
  withFlagLock(() => {
    if (Atomics.add(lazyState, 0, 1) === 0) setFlagsFromString("--wasm-lazy-compilation");
  });
}

export function lazyOff(): void {
  withFlagLock(() => {
    if (Atomics.sub(lazyState, 0, 1) === 1) setFlagsFromString("--no-wasm-lazy-compilation");
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
