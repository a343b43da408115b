import assert from "node:assert/strict";
import { test } from "node:test";
import { COUNTED_BOUNDS_S } from "../runtime/index.js";
import { quantileMs, TrafficSampler } from "./sampler.js";

const buckets = (at: Record<number, number>) => {
  const b = new Array(COUNTED_BOUNDS_S.length + 1).fill(0);
  for (const [i, n] of Object.entries(at)) b[Number(i)] = n;
  return b;
};

test("p95 is interpolated inside its bucket; tens of µs are told apart from milliseconds", () => {
  // 100 invocations in (0, 0.1 ms]: the 95th is 95 % of the way into it.
  assert.equal(quantileMs(buckets({ 0: 100 }), 0.95)?.toFixed(3), "0.095");
  // 90 fast, 10 between 10 and 25 ms: the 95th is halfway into that bucket.
  const i10 = COUNTED_BOUNDS_S.indexOf(0.025);
  assert.equal(quantileMs(buckets({ 0: 90, [i10]: 10 }), 0.95), 17.5);
  assert.equal(quantileMs(buckets({}), 0.95), undefined, "no traffic, no percentile");
});

test("rate, error share and p95 over the window, from the difference of the first and last samples", () => {
  const s = new TrafficSampler(async () => ({}), 1000, 10_000);
  s.add({ at: 0, counts: { f: { total: 100, failed: 0, buckets: buckets({ 0: 100 }) } } });
  s.add({ at: 1000, counts: { f: { total: 150, failed: 5, buckets: buckets({ 0: 150 }) } } });
  s.add({ at: 2000, counts: { f: { total: 250, failed: 10, buckets: buckets({ 0: 240, 6: 10 }) } } });
  const sum = s.summary("f");
  assert.equal(sum.rate, 75, "150 invocations in 2 s");
  assert.equal(sum.errorPct, (100 * 10) / 150);
  assert.deepEqual(sum.series.rate, [50, 100]);
  assert.deepEqual(sum.series.errors, [5, 5]);
  assert.equal(sum.lastInvoked, new Date(2000).toISOString());
  // Samples older than the window go.
  s.add({ at: 13_000, counts: { f: { total: 250, failed: 10, buckets: buckets({ 0: 240, 6: 10 }) } } });
  assert.deepEqual(
    s.summary("f").series.t,
    [13_000],
    "only the interval that ends at the newest sample is left",
  );
  assert.equal(s.summary("f").rate, 0, "nothing happened in it");
  assert.equal(s.summary("nobody").rate, 0);
});
