import assert from "node:assert/strict";
import { test } from "node:test";
import { tuneMalloc } from "./malloc-tune.js";

// npm's install step builds the addon (python3, make and a C compiler are part of the set-up); on glibc the
// threshold is accepted. Without it a server keeps up to 32 MiB-sized freed buffers for good (see the module).
test("the malloc tuning addon is built by npm install and fixes glibc's mmap threshold", () => {
  assert.equal(tuneMalloc(), true);
});
