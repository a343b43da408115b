import assert from "node:assert/strict";
import { test } from "node:test";
import { missingServeFlags, SERVE_NODE_FLAGS } from "./node-flags.js";

test("serve adds each of its V8 flags that the command line does not set either way", () => {
  assert.deepEqual(missingServeFlags([]), SERVE_NODE_FLAGS);
  assert.deepEqual(missingServeFlags(["--inspect", "--max-old-space-size=4096"]), SERVE_NODE_FLAGS);
  assert.deepEqual(missingServeFlags([...SERVE_NODE_FLAGS]), []);
  // A value of the user's own wins, in either spelling V8 takes.
  assert.deepEqual(missingServeFlags(["--v8-pool-size=3", "--min_semi_space_size=4"]), [
    "--no-allocation-site-pretenuring",
  ]);
  // So does the other form of a boolean flag: V8's default kept on purpose.
  assert.deepEqual(missingServeFlags(["--allocation-site-pretenuring"]), [
    "--min-semi-space-size=16",
    "--v8-pool-size=0",
  ]);
  // A flag whose name only starts like one of serve's is another flag.
  assert.ok(missingServeFlags(["--min-semi-space-size-foo"]).includes("--min-semi-space-size=16"));
});
