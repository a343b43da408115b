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

test("many functions: each keeps its own series and window totals as intervals leave the window", () => {
  const s = new TrafficSampler(async () => ({}), 1000, 3000);
  const i25 = COUNTED_BOUNDS_S.indexOf(0.025);
  // a is invoked in every interval, b only in the second, c never after the first sample.
  s.add({
    at: 0,
    counts: {
      a: { total: 10, failed: 0, buckets: buckets({ 0: 10 }) },
      c: { total: 7, failed: 1, buckets: buckets({ 0: 7 }) },
    },
  });
  s.add({
    at: 1000,
    counts: {
      a: { total: 20, failed: 1, buckets: buckets({ 0: 20 }) },
      b: { total: 4, failed: 4, buckets: buckets({ [i25]: 4 }) },
      c: { total: 7, failed: 1, buckets: buckets({ 0: 7 }) },
    },
  });
  s.add({
    at: 2000,
    counts: {
      a: { total: 40, failed: 1, buckets: buckets({ 0: 30, [i25]: 10 }) },
      b: { total: 4, failed: 4, buckets: buckets({ [i25]: 4 }) },
      c: { total: 7, failed: 1, buckets: buckets({ 0: 7 }) },
    },
  });
  assert.deepEqual(s.summary("a").series.rate, [10, 20]);
  assert.deepEqual(s.summary("b").series.rate, [4, 0]);
  assert.deepEqual(s.summary("b").series.errors, [4, 0]);
  assert.equal(s.summary("b").errorPct, 100);
  assert.equal(s.summary("c").rate, 0, "c's invocations before the first sample are not in the window");
  assert.equal(s.summary("c").p95Ms, undefined);
  assert.equal(s.summary("a").rate, 15, "30 invocations in 2 s");
  // a's interval p95: all 10 in (0, 0.1 ms] then 10 of 20 in (10, 25 ms].
  assert.equal(s.summary("a").series.p95[0]?.toFixed(3), "0.095");
  assert.ok((s.summary("a").series.p95[1] as number) > 10);
  // The sample at 3000 ends the window's first sample: the interval (0, 1000] leaves, with b's only traffic.
  s.add({
    at: 3000,
    counts: {
      a: { total: 41, failed: 1, buckets: buckets({ 0: 31, [i25]: 10 }) },
      b: { total: 4, failed: 4, buckets: buckets({ [i25]: 4 }) },
    },
  });
  s.add({
    at: 4000,
    counts: {
      a: { total: 42, failed: 1, buckets: buckets({ 0: 32, [i25]: 10 }) },
      b: { total: 4, failed: 4, buckets: buckets({ [i25]: 4 }) },
    },
  });
  assert.deepEqual(s.summary("a").series.t, [2000, 3000, 4000]);
  assert.deepEqual(s.summary("a").series.rate, [20, 1, 1]);
  assert.equal(s.summary("a").errorPct, 0, "a's one failure was in the interval that left");
  assert.equal(s.summary("a").rate, 22 / 3);
  assert.equal(s.summary("b").rate, 0);
  assert.equal(s.summary("b").errorPct, 0);
  assert.equal(s.summary("b").p95Ms, undefined, "b's slow calls left the window with their interval");
  assert.equal(s.summary("b").lastInvoked, undefined);
});

test("counts that go down (a router process replaced) count again from there, never negative", () => {
  const s = new TrafficSampler(async () => ({}), 1000, 60_000);
  s.add({ at: 0, counts: { f: { total: 100, failed: 10, buckets: buckets({ 0: 100 }) } } });
  s.add({ at: 1000, counts: { f: { total: 30, failed: 0, buckets: buckets({ 0: 30 }) } } });
  s.add({ at: 2000, counts: { f: { total: 50, failed: 2, buckets: buckets({ 0: 50 }) } } });
  assert.deepEqual(s.summary("f").series.rate, [0, 20]);
  assert.equal(s.summary("f").rate, 10);
  assert.equal(s.summary("f").errorPct, 10);
});
