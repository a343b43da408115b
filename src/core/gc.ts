import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { isMainThread } from "node:worker_threads";

let exposed = false;
let gc: (() => void) | undefined;

/**
 * Sets V8's flag that exposes `gc` (process-wide; it only adds `gc` to contexts made after it). The main thread sets
 * it before starting a thread that collects its own heap: V8's flags are not changed safely by two threads at once
 * (the compile thread changes the lazy-compilation flag).
 */
export function exposeGc(): void {
  if (exposed) return;
  setFlagsFromString("--expose-gc");
  exposed = true;
}

/**
 * Runs V8's full garbage collection of the calling thread's heap, taken once per thread from a fresh context. For
 * threads that drop large things and then allocate nothing: V8 collects only when something is allocated, so what
 * they held stays until then. Another thread than the main one needs exposeGc called by the main thread first.
 */
export function fullGc(): void {
  if (!gc) {
    if (isMainThread) exposeGc();
    // Another thread whose main thread did not expose it finds no `gc`: it then does not collect, rather than throw
    // (an exception in a worker's timer ends the worker).
    gc = runInNewContext("typeof gc === 'function' ? gc : undefined") as (() => void) | undefined;
    if (!gc) return;
  }
  gc();
}
