import type { FunctionRecord } from "../../core/index.js";
import type { InvocationTrigger } from "../types.js";

const cache = new WeakMap<Record<string, string>, string[]>();

/** The function's env as `K=V` strings, computed once per record (records are immutable once stored). */
export function envList(fn: FunctionRecord): string[] {
  let list = cache.get(fn.env);
  if (!list) {
    list = Object.entries(fn.env).map(([k, v]) => `${k}=${v}`);
    cache.set(fn.env, list);
  }
  return list;
}

/**
 * What tells a function that a trigger started it (both contracts): its kind (`timer`, `mqt`, `async`), name,
 * the event's id and the attempt (1 first). Absent on HTTP invocations.
 */
export function triggerVars(t: InvocationTrigger): [string, string][] {
  return [
    ["WASMLET_TRIGGER", t.kind],
    ["WASMLET_TRIGGER_NAME", t.name],
    // The event's id, the same on every attempt (WASMLET_INVOCATION_ID is this attempt's own, as for HTTP).
    ["WASMLET_EVENT_ID", t.id],
    ["WASMLET_ATTEMPT", String(t.attempt)],
  ];
}
