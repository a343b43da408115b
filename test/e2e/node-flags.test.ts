// `wasmlet serve` replaces itself in place with the V8 flags it needs (src/main/node-flags.ts): the same PID,
// its output still on the same streams, the flags in its command line; WASMLET_NODE_FLAGS=off leaves it as started.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { startServer } from "./harness.js";

const addonBuilt = existsSync(new URL("../../../build/Release/malloc_tune.node", import.meta.url));

test("serve runs with --min-semi-space-size=16 in the process that was started, and without it when told", {
  skip: addonBuilt ? false : "the native addon is not built",
}, async () => {
  const s = await startServer();
  try {
    const cmdline = readFileSync(`/proc/${s.proc.pid}/cmdline`, "utf8").split("\0");
    assert.ok(cmdline.includes("--min-semi-space-size=16"), cmdline.join(" "));
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
  } finally {
    delete process.env.WASMLET_NODE_FLAGS;
    await plain.stop();
  }
});
