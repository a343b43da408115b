// In a process of its own (node --test runs each file in one): nothing here has exposed V8's `gc` before, as in a
// router process that never prepared a large module.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { sha256Digest } from "../core/index.js";
import { HybridExecutor } from "./executor.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const LIMITS = { timeoutMs: 2000, memoryMiB: 32, maxOutputBytes: 1 << 20 };

test("a worker that dropped a module stays up through the collection that follows, in a process that had not exposed gc", async () => {
  const ex = new HybridExecutor({ mainBudgetMs: 20 });
  try {
    const module = readFileSync(`${root}test/fixtures/spin.wasm`);
    const spin = {
      digest: sha256Digest(module),
      entry: "/spin.wasm",
      module,
      files: new Map([["/spin.wasm", module]]),
    };
    await ex.prepare(spin, LIMITS);
    const run = () =>
      ex.run(
        spin.digest,
        { args: ["spin", "30"], env: [], stdin: new Uint8Array(0) },
        LIMITS,
        performance.now() + LIMITS.timeoutMs,
      );
    // Over the main thread's budget: re-run on a worker, which loads the module.
    assert.equal((await run()).error, undefined);
    assert.equal(ex.poolStats.threads, 1);
    // Released: the worker drops it and, a little later (reclaim.ts), collects its heap.
    ex.release(spin.digest);
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(ex.poolStats.threads, 1, "the worker is still there after its collection");
  } finally {
    await ex.close();
  }
});
