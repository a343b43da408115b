import type { HttpTriggerRecord } from "../core/index.js";

interface Table {
  names: string[];
  /** Cumulative weights, in the order of `names` (sorted, so every process picks alike for a key). */
  cumulative: number[];
  total: number;
}

const tables = new WeakMap<HttpTriggerRecord, Table>();

function tableOf(t: HttpTriggerRecord): Table {
  let table = tables.get(t);
  if (!table) {
    const names = Object.keys(t.weights ?? {}).sort();
    const cumulative: number[] = [];
    let total = 0;
    for (const n of names) {
      total += (t.weights as Record<string, number>)[n];
      cumulative.push(total);
    }
    table = { names, cumulative, total };
    tables.set(t, table);
  }
  return table;
}

/** FNV-1a, 32 bits: a cheap, stable hash of a sticky key. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The function a request to a weighted route calls: the one `forced` names when it is one of the route's (weight 0
 * included: smoke tests of a side that takes no traffic yet); else, with a sticky `key`, the one its hash falls
 * on (the same key always lands on the same side while the weights stay); else one at random by weight.
 */
export function pickFunction(
  t: HttpTriggerRecord,
  forced: string | undefined,
  key: string | undefined,
  random: () => number = Math.random,
): string {
  if (!t.weights) return t.function;
  if (forced !== undefined && Object.hasOwn(t.weights, forced)) return forced;
  const { names, cumulative, total } = tableOf(t);
  if (total <= 0) return t.function;
  const point = key !== undefined ? (fnv1a(key) / 2 ** 32) * total : random() * total;
  for (let i = 0; i < names.length; i++) if (point < cumulative[i]) return names[i];
  return names[names.length - 1];
}
