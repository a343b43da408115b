// The request thread's budget in thread CPU time: paused time does not count, CPU the function burns does.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type LoadedImage, sha256Digest } from "../core/index.js";
import { budgetSpent, setThreadCpuClock, startBudget, stretchBudget } from "./cpu-budget.js";
import { HybridExecutor } from "./executor.js";

after(() => setThreadCpuClock(undefined));

test("a budget stretches by the time its thread was paused, up to 5 budgets of wall time, never past spent CPU", () => {
  let cpu = 100;
  setThreadCpuClock(() => cpu);
  assert.equal(startBudget(1000, 20), 1020);
  cpu += 5; // 5 ms of CPU in 20 ms of wall time: paused 15
  assert.equal(stretchBudget(1020), 1035);
  assert.equal(budgetSpent(1020), 5);
  cpu += 20; // now 25 ms of CPU: spent
  assert.equal(stretchBudget(1040), undefined);
  startBudget(2000, 20);
  cpu += 1;
  assert.equal(stretchBudget(2090), 2100, "capped at 5 budgets of wall time");
  assert.equal(stretchBudget(2100), undefined);
  // Without a clock (the addon not built, or unreadable) the budget is wall time.
  setThreadCpuClock(() => -1);
  startBudget(3000, 20);
  assert.equal(stretchBudget(3020), undefined);
  assert.equal(budgetSpent(3050), 50);
});

const root = fileURLToPath(new URL("../../../", import.meta.url));
function image(path: string): LoadedImage {
  const module = new Uint8Array(readFileSync(`${root}${path}`));
  return { digest: sha256Digest(module), entry: "/f.wasm", module, files: new Map([["/f.wasm", module]]) };
}

test("a run whose thread was paused stays on the request thread; one that burns the budget goes to a worker", async () => {
  const executor = new HybridExecutor({ mainBudgetMs: 20, demoteForMs: 60_000 });
  after(() => executor.close());
  const spin = image("test/fixtures/spin.wasm");
  const limits = { timeoutMs: 2000, memoryMiB: 32, maxOutputBytes: 1 << 20 };
  await executor.prepare(spin, limits);
  const run = (ms: number) =>
    executor.run(
      spin.digest,
      { args: ["/f.wasm", String(ms)], env: [], stdin: new Uint8Array(0) },
      limits,
      performance.now() + limits.timeoutMs,
    );
  // A clock that says the thread was paused all along (30 ms of spinning, no CPU): the budget stretches up to
  // 5 budgets of wall time (100 ms), which the spin stays under.
  setThreadCpuClock(() => 1);
  const paused = await run(30);
  assert.equal(paused.error, undefined);
  assert.equal(executor.poolStats.threads, 0, "no worker was needed");
  // The real clock: 30 ms of spinning is 30 ms of CPU, past the budget: stopped and re-run on a worker.
  setThreadCpuClock(undefined);
  const burnt = await run(30);
  assert.equal(burnt.error, undefined);
  assert.ok(executor.poolStats.threads >= 1, "a worker ran it");
});
