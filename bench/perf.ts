// `BENCH=perf npm run bench`: issue 5's performance suite — wasmlet next to workerd, a bare Node server and a
// raw Node "hello", measured in one run — plus deploy, restart, runaway and density measurements.

import { benchDensity } from "./perf-density.js";
import { benchDeploy, benchRestart } from "./perf-deploy.js";
import { benchProfile } from "./perf-profile.js";
import { benchRunaway } from "./perf-runaway.js";
import { benchThroughput } from "./perf-throughput.js";
import { hasWrk } from "./wrk.js";

export interface PerfOptions {
  /** Length of one wrk run (throughput rows, runaway). */
  seconds: number;
  /** Functions deployed for the density run. */
  densityFunctions: number;
}

export async function benchPerf(opts: PerfOptions): Promise<void> {
  const t0 = performance.now();
  const step = async (name: string, f: () => Promise<void>) => {
    const t = performance.now();
    try {
      await f();
    } catch (e) {
      console.log(`\n${name} FAILED: ${e instanceof Error ? e.stack : e}`);
      process.exitCode = 1;
    }
    console.log(`(${name}: ${((performance.now() - t) / 1000).toFixed(0)} s)`);
  };
  console.log("\n# perf suite (issue 5): ratios are against baselines measured in this same run");
  if (!hasWrk()) {
    console.log("(wrk not found: apt-get install wrk; throughput, runaway and density rows are skipped)");
  } else {
    await step("throughput", () => benchThroughput({ seconds: opts.seconds, rounds: 2 }));
  }
  await step("deploy", () => benchDeploy());
  await step("restart", () => benchRestart(20, 5));
  if (hasWrk()) {
    await step("runaway", () => benchRunaway(opts.seconds));
    await step("profile", () => benchProfile(5));
    await step("density", () =>
      benchDensity({ functions: opts.densityFunctions, hit: 1000, seconds: 10, deployBudgetMs: 230_000 }),
    );
  }
  console.log(`\n(perf suite: ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
