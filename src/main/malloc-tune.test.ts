import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { tuneMalloc } from "./malloc-tune.js";
import { REQUEST_SLICE_NS, shortenRequestSlice } from "./request-slice.js";

// npm's install step builds the addon (python3, make and a C compiler are part of the set-up); on glibc the
// threshold is accepted. Without it a server keeps up to 32 MiB-sized freed buffers for good (see the module).
test("the malloc tuning addon is built by npm install and fixes glibc's mmap threshold", () => {
  assert.equal(tuneMalloc(), true);
});

test("the request thread's scheduler slice is shortened where the kernel has per-thread slices", (t) => {
  const slice = () =>
    Number(/se\.slice\s*:\s*(\d+)/.exec(readFileSync("/proc/thread-self/sched", "utf8"))?.[1] ?? Number.NaN);
  const before = slice();
  const got = shortenRequestSlice(REQUEST_SLICE_NS);
  if (got === 0) return t.skip(`the kernel did not take a per-thread slice (slice ${before} ns)`);
  assert.equal(got, REQUEST_SLICE_NS);
  assert.equal(slice(), REQUEST_SLICE_NS, "the kernel reports the new slice for this thread");
  assert.equal(shortenRequestSlice(-5), 0, "nonsense is not passed on");
});
