// The cost of counting: X (the echo function through the router) with metrics on next to the same server with
// `--no-metrics`, interleaved rounds in one run; the target is on ≥ 0.97 × off. Also the time of one scrape, and
// what the dashboard's sampler of every function's counters costs the serve process with many functions.
import { fullGc } from "../src/core/gc.js";
import type { FunctionRecord } from "../src/core/index.js";
import { InvocationStats } from "../src/runtime/index.js";
import { TrafficSampler } from "../src/ui/index.js";
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { median, startWasmlet, type Wasmlet } from "./procs.js";
import { fmt, printTable } from "./report.js";
import { hasWrk, wrk } from "./wrk.js";

/**
 * The dashboard's sampler (ui/sampler.ts) over `functions` functions of which `moving` get invocations between
 * samples, in this process: a full window of samples (5 min at one per 2 s) taken as serve takes them, then the
 * heap the sampler holds and the time of one sample, beside the time of reading the counters alone (its input).
 */
function samplerRow(functions: number, moving: number): Record<string, string> {
  const stats = new InvocationStats();
  const fns = Array.from(
    { length: functions },
    (_, i) => ({ name: `fn-${i}`, current: { version: 1 } }) as unknown as FunctionRecord,
  );
  for (const f of fns) stats.record(f, "http", "success", 1, 200);
  fullGc();
  const held = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const held0 = held();
  const sampler = new TrafficSampler(async () => stats.counts(), 2000, 5 * 60_000);
  const sampleMs: number[] = [];
  const readMs: number[] = [];
  for (let i = 0; i <= 150; i++) {
    for (let k = 0; k < moving; k++)
      stats.record(fns[(i * moving + k) % functions], "http", "success", 3, 200);
    const t0 = performance.now();
    const counts = stats.counts();
    const t1 = performance.now();
    sampler.add({ at: i * 2000, counts });
    const t2 = performance.now();
    readMs.push(t1 - t0);
    sampleMs.push(t2 - t0);
  }
  fullGc();
  const heldBytes = held() - held0;
  if (sampler.summary("fn-0").rate <= 0) throw new Error("sampler bench: fn-0 shows no traffic");
  return {
    functions: String(functions),
    "with invocations per 2 s": String(moving),
    "held, 150 samples (heap + array buffers) MiB": fmt(heldBytes / 1048576),
    "one sample ms (median)": fmt(median(sampleMs)),
    "reading the counters alone ms": fmt(median(readMs)),
    "× reading": fmt(median(sampleMs) / median(readMs)),
  };
}

export async function benchMetrics(opts: { seconds: number; rounds: number }): Promise<void> {
  printTable(
    "dashboard sampler (in this process; a sample = read every function's counters + keep what moved)",
    [samplerRow(1000, 1000), samplerRow(10_000, 100), samplerRow(10_000, 10_000)],
  );
  if (!hasWrk()) {
    console.log("\n(metrics bench skipped: wrk not found — apt-get install wrk)");
    return;
  }
  const servers: Wasmlet[] = [];
  try {
    const on = await startWasmlet();
    servers.push(on);
    const off = await startWasmlet(undefined, ["--no-metrics"]);
    servers.push(off);
    const urls: string[] = [];
    for (const s of [on, off]) {
      await deployEcho(s, "echo");
      const url = `${s.routerUrl}/echo/x?y=1`;
      await checkEcho(url);
      await wrk(url, { seconds: 1 }); // warm-up, not counted
      urls.push(url);
    }
    const rps: number[][] = [[], []];
    for (let r = 0; r < opts.rounds; r++)
      for (const [i, url] of urls.entries()) rps[i].push((await wrk(url, { seconds: opts.seconds })).rps);
    const scrapes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const res = await fetch(`${on.controlUrl}/metrics`);
      await res.text();
      scrapes.push(performance.now() - t);
    }
    const [mOn, mOff] = rps.map(median);
    printTable(
      `metrics cost (echo through the router, median of ${opts.rounds} interleaved ${opts.seconds} s runs)`,
      [
        { server: "X, metrics on (default)", "req/s": fmt(mOn), "× off": fmt(mOn / mOff), target: "≥ 0.97×" },
        { server: "X, --no-metrics", "req/s": fmt(mOff), "× off": "1.00", target: "" },
        {
          server: "one /metrics scrape (median of 20)",
          "req/s": `${fmt(median(scrapes))} ms`,
          "× off": "",
          target: "",
        },
      ],
    );
  } finally {
    for (const s of servers) await s.stop();
  }
}
