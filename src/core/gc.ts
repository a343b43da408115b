import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | undefined;

/**
 * Runs V8's full garbage collection of the calling thread's heap, taken once per thread from a fresh context with
 * the flag that exposes it (the flag only adds `gc` to contexts made after it is set; the main context stays as
 * it was). For threads that drop large things and then allocate nothing: V8 collects only when something is
 * allocated, so what they held stays until then.
 */
export function fullGc(): void {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
}
