// `npm run bench`: every hot path's benchmark, with baselines measured in the same run and shown as ratios.
import { cpus } from "node:os";
import { benchBuild } from "./build.js";
import { benchCli } from "./cli.js";
import { benchCluster } from "./cluster.js";
import { benchComponents } from "./components.js";
import { benchCore } from "./core.js";
import { benchEvents } from "./events.js";
import { benchLarge } from "./large.js";
import { benchMetrics } from "./metrics.js";
import { benchPerf } from "./perf.js";
import { benchRegistry } from "./registry.js";
import { benchTails } from "./tails.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
console.log(
  `# wasmlet benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}`,
);
// BENCH=<name> runs one suite only; no BENCH runs all of them.
const only = process.env.BENCH;
if (!only || only === "core") await benchCore({ seconds });
if (!only || only === "perf")
  await benchPerf({ seconds, densityFunctions: Number(process.env.BENCH_DENSITY_FUNCTIONS ?? 10_000) });
if (!only || only === "registry") await benchRegistry({ runs: Number(process.env.BENCH_REGISTRY_RUNS ?? 7) });
if (!only || only === "build") await benchBuild({ runs: 3 });
if (!only || only === "cli") await benchCli({ runs: 5 });
if (!only || only === "components")
  await benchComponents({ seconds, rounds: Number(process.env.BENCH_ROUNDS ?? 2) });
if (!only || only === "metrics") await benchMetrics({ seconds, rounds: 5 });
if (!only || only === "events") await benchEvents({ seconds });
// Not in the default set (~10 min): issue 11's stability check of the latency targets over several runs.
if (only === "tails")
  await benchTails({
    runs: Number(process.env.BENCH_RUNS ?? 5),
    seconds,
    densityFunctions: Number(process.env.BENCH_DENSITY_FUNCTIONS ?? 10_000),
    densityHit: 1000,
    generatorCpus: process.env.BENCH_GENERATOR_CPUS || undefined,
    cpuAffinity: process.env.BENCH_CPU_AFFINITY === "auto" ? "auto" : "off",
    serveArgs: (process.env.BENCH_SERVE_ARGS ?? "").split(" ").filter(Boolean),
  });
if (!only || only === "large")
  await benchLarge({ functions: Number(process.env.BENCH_LARGE_FUNCTIONS ?? 3) });
if (!only || only === "cluster") await benchCluster({ seconds });
