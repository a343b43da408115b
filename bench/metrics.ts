// The cost of counting: X (the echo function through the router) with metrics on next to the same server with
// `--no-metrics`, interleaved rounds in one run; the target is on ≥ 0.97 × off. Also the time of one scrape.
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { median, startWasmlet, type Wasmlet } from "./procs.js";
import { fmt, printTable } from "./report.js";
import { hasWrk, wrk } from "./wrk.js";

export async function benchMetrics(opts: { seconds: number; rounds: number }): Promise<void> {
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
