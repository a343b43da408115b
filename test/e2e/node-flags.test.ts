// `wasmlet serve` replaces itself in place with the V8 flags it needs (src/main/node-flags.ts): the same PID,
// its output still on the same streams, the flags in its command line; WASMLET_NODE_FLAGS=off leaves it as started.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { test } from "node:test";
import { startServer } from "./harness.js";

const addonBuilt = existsSync(new URL("../../../build/Release/malloc_tune.node", import.meta.url));

/** How many threads `pid` has (V8's platform workers among them; the rest are the same in two servers started
 * alike). */
function threadCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

test("serve runs with --min-semi-space-size=16, V8's pool sized to the machine and no allocation-site pretenuring in the process that was started, and without them when told", {
  skip: addonBuilt ? false : "the native addon is not built",
}, async () => {
  const s = await startServer();
  let sized: number;
  try {
    const cmdline = readFileSync(`/proc/${s.proc.pid}/cmdline`, "utf8").split("\0");
    assert.ok(cmdline.includes("--min-semi-space-size=16"), cmdline.join(" "));
    assert.ok(cmdline.includes("--v8-pool-size=0"), cmdline.join(" "));
    assert.ok(cmdline.includes("--no-allocation-site-pretenuring"), cmdline.join(" "));
    sized = threadCount(s.proc.pid as number);
    assert.match(s.output(), /router on http/, "its output reached the starter's pipe");
    // A signal to the started PID is the server's: it drains and exits 0.
    s.proc.kill("SIGTERM");
    const code = await new Promise((r) => s.proc.once("exit", (c) => r(c)));
    assert.equal(code, 0);
  } finally {
    await s.stop().catch(() => {});
  }
  process.env.WASMLET_NODE_FLAGS = "off";
  const plain = await startServer();
  try {
    const cmdline = readFileSync(`/proc/${plain.proc.pid}/cmdline`, "utf8");
    assert.ok(!cmdline.includes("--min-semi-space-size"), cmdline);
    assert.ok(!cmdline.includes("--v8-pool-size"), cmdline);
    assert.ok(!cmdline.includes("pretenuring"), cmdline);
    // node's own pool of 4 platform workers against one fewer than the CPUs (at least one).
    const expectedFewer = 4 - Math.max(1, availableParallelism() - 1);
    assert.equal(
      threadCount(plain.proc.pid as number) - sized,
      expectedFewer,
      "threads: node's pool against serve's",
    );
  } finally {
    delete process.env.WASMLET_NODE_FLAGS;
    await plain.stop();
  }
});

test("a --v8-pool-size given in NODE_OPTIONS wins over serve's", {
  skip: addonBuilt ? false : "the native addon is not built",
}, async () => {
  const before = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${before ?? ""} --v8-pool-size=3`.trim();
  const s = await startServer();
  try {
    const cmdline = readFileSync(`/proc/${s.proc.pid}/cmdline`, "utf8");
    assert.ok(!cmdline.includes("--v8-pool-size"), cmdline);
    // It was still re-executed for the flag it lacked.
    assert.ok(cmdline.includes("--min-semi-space-size=16"), cmdline);
  } finally {
    if (before === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
    await s.stop();
  }
});
