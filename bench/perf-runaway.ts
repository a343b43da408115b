// Issue 5's runaway measurement: another function's throughput and worst latency while one function loops
// forever (stopped at its 2 s deadline with a 504, and requested again at once), vs the same without the loop.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { api, ROOT, startWasmlet } from "./procs.js";
import { fmt, printTable } from "./report.js";
import { type LoadResult, wrk } from "./wrk.js";

const LOOP = readFileSync(join(ROOT, "test/fixtures/loop.wasm"));
const LOOP_TIMEOUT_MS = 2000;

export async function benchRunaway(seconds: number): Promise<void> {
  const w = await startWasmlet();
  let looping = false;
  const loopStatuses: number[] = [];
  const loopMs: number[] = [];
  let loops: Promise<void> | undefined;
  try {
    await deployEcho(w, "echo");
    await api(w.controlUrl, "POST", "/functions", {
      name: "loop",
      code: LOOP.toString("base64"),
      fileName: "loop.wasm",
      limits: { timeoutMs: LOOP_TIMEOUT_MS },
    });
    await api(w.controlUrl, "POST", "/triggers/http", { name: "loop", function: "loop", prefix: "/loop" });
    const url = `${w.routerUrl}/echo/x?y=1`;
    await checkEcho(url);
    await wrk(url, { seconds: 1 });
    const calm: LoadResult[] = [];
    const loaded: LoadResult[] = [];
    calm.push(await wrk(url, { seconds }));
    looping = true;
    // One request to the loop function in flight at all times: the next one starts when the last got its 504.
    loops = (async () => {
      while (looping) {
        const t0 = performance.now();
        const r = await fetch(`${w.routerUrl}/loop/`);
        await r.text();
        loopStatuses.push(r.status);
        loopMs.push(performance.now() - t0);
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    loaded.push(await wrk(url, { seconds }));
    looping = false;
    await loops;
    // Interleave a second calm run, so machine noise hits both sides.
    calm.push(await wrk(url, { seconds }));
    const c = calm[0].rps >= calm[1].rps ? calm[0] : calm[1];
    const l = loaded[0];
    const timeouts = loopStatuses.filter((s) => s === 504).length;
    printTable(
      `runaway: echo throughput while "loop" (endless, timeoutMs ${LOOP_TIMEOUT_MS}) is requested back to back (wrk -c32, ${seconds} s)`,
      [
        {
          run: "echo alone (best of 2)",
          "req/s": fmt(c.rps),
          "p99 ms": fmt(c.p99ms),
          "max ms": fmt(c.maxMs),
          errors: c.errors,
        },
        {
          run: "echo while loop runs",
          "req/s": fmt(l.rps),
          "p99 ms": fmt(l.p99ms),
          "max ms": fmt(l.maxMs),
          errors: l.errors,
        },
        {
          run: "ratio (with / without)",
          "req/s": fmt(l.rps / c.rps),
          "p99 ms": fmt(l.p99ms / c.p99ms),
          "max ms": fmt(l.maxMs / c.maxMs),
          errors: "",
        },
      ],
    );
    console.log(
      `loop requests: ${loopStatuses.length}, ${timeouts} answered 504 (statuses ${[...new Set(loopStatuses)].join(",")}), ` +
        `took ${loopMs.map((m) => fmt(m, 0)).join(", ")} ms; targets: throughput ratio ≥ 0.50, no echo request waits for the loop`,
    );
  } finally {
    looping = false;
    await loops?.catch(() => {});
    await w.stop();
  }
}
