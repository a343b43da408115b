import type { FunctionRecord } from "../../core/index.js";

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
