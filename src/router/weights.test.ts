import assert from "node:assert/strict";
import { test } from "node:test";
import type { HttpTriggerRecord } from "../core/index.js";
import { pickFunction } from "./weights.js";

const route = (weights?: Record<string, number>): HttpTriggerRecord => ({
  name: "r",
  function: "a",
  weights,
  methods: ["GET"],
  match: "exact",
  path: "/r",
  createdAt: "2026-01-01T00:00:00Z",
});

function shares(n: number, pick: (i: number) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const f = pick(i);
    out[f] = (out[f] ?? 0) + 1;
  }
  for (const k of Object.keys(out)) out[k] /= n;
  return out;
}

test("10,000 requests at 90/10 give 10 ± 2 % to the canary", () => {
  const t = route({ a: 90, b: 10 });
  const s = shares(10_000, () => pickFunction(t, undefined, undefined));
  assert.ok(Math.abs((s.b ?? 0) - 0.1) <= 0.02, `b got ${((s.b ?? 0) * 100).toFixed(1)} %`);
});

test("a weight of 0 receives nothing, unless forced", () => {
  const t = route({ a: 100, b: 0 });
  assert.deepEqual(
    shares(10_000, () => pickFunction(t, undefined, undefined)),
    { a: 1 },
  );
  assert.deepEqual(
    shares(10_000, (i) => pickFunction(t, undefined, `caller-${i}`)),
    { a: 1 },
  );
  assert.equal(pickFunction(t, "b", undefined), "b", "forcing a side works at weight 0 (smoke tests)");
});

test("a forced name that is not one of the route's functions is ignored", () => {
  const t = route({ a: 100, b: 0 });
  assert.equal(pickFunction(t, "elsewhere", undefined), "a");
  assert.equal(pickFunction(route(), "b", undefined), "a", "an unweighted route always calls its function");
});

test("a sticky key always lands on the same side, and keys spread by weight", () => {
  const t = route({ a: 70, b: 30 });
  for (let i = 0; i < 200; i++) {
    const first = pickFunction(t, undefined, `user-${i}`, () => 0);
    for (let j = 0; j < 5; j++) assert.equal(pickFunction(t, undefined, `user-${i}`, Math.random), first);
  }
  const s = shares(10_000, (i) => pickFunction(t, undefined, `user-${i}`));
  assert.ok(Math.abs((s.b ?? 0) - 0.3) <= 0.03, `b got ${((s.b ?? 0) * 100).toFixed(1)} % of the keys`);
  // The same key picks alike in every process: the order of the weights in the record does not matter.
  const reordered = route({ b: 30, a: 70 });
  for (let i = 0; i < 200; i++)
    assert.equal(pickFunction(reordered, undefined, `user-${i}`), pickFunction(t, undefined, `user-${i}`));
});
