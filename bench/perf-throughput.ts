// Issue 5's side-by-side throughput table: A (Node hello), W (workerd, fresh instance), B (Node, fresh instance),
// X (wasmlet full path), R (reuse mode), measured interleaved in rounds, plus X's p99 with fewer connections.
import { join } from "node:path";
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { type Proc, ROOT, startNode, startWasmlet } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";
import { startWorkerd } from "./workerd/workerd.js";
import { type LoadResult, wrk } from "./wrk.js";

const ECHO_PATH = join(ROOT, "examples/wagi-echo/echo.wasm");
const ECHO_URL_PATH = "/echo/x?y=1";

interface Target {
  key: "A" | "W" | "B" | "X" | "X2";
  label: string;
  url?: string;
  proc?: Proc;
  /** Why the row could not be measured. */
  missing?: string;
  runs: LoadResult[];
}

export interface ThroughputOptions {
  seconds: number;
  rounds: number;
  /** Connections for X's latency run (closed loop, below saturation). */
  lowConnections: number;
}

export async function benchThroughput(opts: ThroughputOptions): Promise<void> {
  const procs: Proc[] = [];
  const targets: Target[] = [
    { key: "A", label: "A: raw Node http hello", runs: [] },
    { key: "W", label: "W: workerd, fresh instance per request", runs: [] },
    { key: "B", label: "B: bare Node, fresh instance per request", runs: [] },
    { key: "X", label: "X: wasmlet router -> runtime -> WAGI (default isolation)", runs: [] },
    { key: "X2", label: "X2: the same, serve --workers 2 (both cores)", runs: [] },
  ];
  const [a, w, b, x, x2] = targets;
  try {
    const node = await startNode(
      [join(ROOT, "dist/bench/servers/node-hello.js")],
      /listening (http:\/\/\S+)/,
    );
    procs.push(node);
    a.proc = node;
    a.url = `${node.match[1]}/`;
    try {
      const wd = await startWorkerd(ECHO_PATH);
      procs.push(wd);
      w.proc = wd;
      w.url = `${wd.url}${ECHO_URL_PATH}`;
    } catch (e) {
      w.missing = `workerd could not run: ${e instanceof Error ? e.message : e}`.replaceAll("\n", " | ");
    }
    const fresh = await startNode(
      [join(ROOT, "dist/bench/servers/fresh-instance.js"), ECHO_PATH],
      /listening (http:\/\/\S+)/,
    );
    procs.push(fresh);
    b.proc = fresh;
    b.url = `${fresh.match[1]}${ECHO_URL_PATH}`;
    const wl = await startWasmlet();
    procs.push(wl);
    x.proc = wl;
    await deployEcho(wl, "echo");
    x.url = `${wl.routerUrl}${ECHO_URL_PATH}`;
    const wl2 = await startWasmlet(undefined, ["--workers", "2"]);
    procs.push(wl2);
    x2.proc = wl2;
    await deployEcho(wl2, "echo");
    x2.url = `${wl2.routerUrl}${ECHO_URL_PATH}`;
    // Router processes learn of the route through the store's change feed (polled): wait until it serves.
    for (let i = 0; i < 100 && (await fetch(x2.url)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 20));

    const hello = await fetch(a.url);
    if (hello.status !== 200 || (await hello.text()) !== "hello\n") throw new Error("A: bad hello answer");
    for (const t of [w, b, x, x2]) if (t.url) await checkEcho(t.url);
    for (let round = -1; round < opts.rounds; round++)
      for (const t of targets) {
        if (!t.url) continue;
        try {
          // Round -1 warms up (JIT, caches) and is not counted.
          const r = await wrk(t.url, { seconds: round < 0 ? 1 : opts.seconds });
          if (round >= 0) t.runs.push(r);
        } catch (e) {
          const p = t.proc;
          t.missing = `${t.key} failed under load (${e instanceof Error ? e.message.split("\n")[1] : e}); server exit ${p?.proc.exitCode ?? p?.proc.signalCode}: ${p?.out().slice(-500)}`;
          t.url = undefined;
        }
      }
    const low = x.url
      ? await wrk(x.url, { seconds: opts.seconds, connections: opts.lowConnections })
      : undefined;
    const peak = best(x);
    const paced =
      peak && x.url
        ? [
            await pacedRun(x.url, peak, opts.seconds, "fixed"),
            await pacedRun(x.url, peak, opts.seconds, "exp"),
          ]
        : [];
    printThroughput(targets, opts, low, paced);
    for (const t of targets) if (t.missing) console.log(`\n${t.key}: ${t.missing}`);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

/** The run with the most req/s of a row (with its own p50/p99). */
function best(t: Target): LoadResult | undefined {
  return t.runs.reduce<LoadResult | undefined>((m, r) => (!m || r.rps > m.rps ? r : m), undefined);
}

const PACE = join(ROOT, "bench/lua/pace.lua");
const PACE_DELAY_MS = 10;

/**
 * ~80 % of X's peak: each connection pauses between requests (a fixed PACE_DELAY_MS, or exponential waits of that
 * mean), and the connection count sets the rate. The count is corrected from the rate reached, up to 3 runs,
 * and the run closest to 80 % is reported.
 */
async function pacedRun(
  url: string,
  peak: LoadResult,
  seconds: number,
  mode: "fixed" | "exp",
): Promise<Paced> {
  const target = 0.8 * peak.rps;
  let connections = Math.max(1, Math.round((target * (PACE_DELAY_MS + peak.p50ms / 4)) / 1000));
  let bestRun: Paced | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await wrk(url, {
      seconds,
      connections,
      script: PACE,
      scriptArgs: [String(PACE_DELAY_MS), mode],
    });
    const run = { ...r, connections, target, mode };
    if (!bestRun || Math.abs(run.rps - target) < Math.abs(bestRun.rps - target)) bestRun = run;
    if (Math.abs(r.rps - target) <= 0.05 * target || r.rps <= 0) break;
    connections = Math.max(1, Math.round((connections * target) / r.rps));
  }
  return bestRun as Paced;
}

interface Paced extends LoadResult {
  connections: number;
  target: number;
  mode?: "fixed" | "exp";
}

function printThroughput(
  targets: Target[],
  opts: ThroughputOptions,
  low: LoadResult | undefined,
  paced: Paced[],
): void {
  const byKey = Object.fromEntries(targets.map((t) => [t.key, best(t)]));
  const ratio = (r: LoadResult, base: LoadResult | undefined) => (base ? fmt(r.rps / base.rps) : "n/a");
  const rows: Row[] = targets.map((t) => {
    const r = best(t);
    if (!r)
      return {
        server: t.label,
        "req/s": "n/a",
        "p50 ms": "",
        "p99 ms": "",
        errors: "",
        "ratio to W": "",
        "ratio to A": "",
        "all runs req/s": t.missing ? "not run" : "",
      };
    return {
      server: t.label,
      "req/s": fmt(r.rps),
      "p50 ms": fmt(r.p50ms),
      "p99 ms": fmt(r.p99ms),
      errors: t.runs.reduce((s, x) => s + x.errors, 0),
      "ratio to W": ratio(r, byKey.W),
      "ratio to A": ratio(r, byKey.A),
      "all runs req/s": t.runs.map((x) => fmt(x.rps, 0)).join(" / "),
    };
  });
  rows.push({
    server: "R: wasmlet reuse mode",
    "req/s": "n/a (no reuse mode)",
    "p50 ms": "",
    "p99 ms": "",
    errors: "",
    "ratio to W": "",
    "ratio to A": "",
    "all runs req/s": "",
  });
  printTable(
    `throughput, fresh state per request (wrk -t1 -c32, ${opts.seconds} s per run, ${opts.rounds} interleaved rounds A,W,B,X,X2; best run per row)`,
    rows,
  );
  const peak = byKey.X;
  if (low && peak)
    printTable(
      `X latency below saturation (${opts.seconds} s each; wrk has no rate limit: "paced" = each connection waits after every response — a fixed ${PACE_DELAY_MS} ms, or exponential waits of that mean (Poisson-like arrivals) — bench/lua/pace.lua, connection count corrected towards 80 % of X's peak)`,
      [...paced, { ...low, connections: opts.lowConnections, target: Number.NaN }].map((r) => ({
        method: Number.isNaN(r.target)
          ? "closed loop"
          : `paced (${r.mode === "exp" ? "exponential" : "fixed"} waits), aiming at ${fmt(r.target)} req/s`,
        connections: r.connections,
        "req/s": fmt(r.rps),
        "share of X peak": `${fmt((100 * r.rps) / peak.rps, 0)} %`,
        "p50 ms": fmt(r.p50ms),
        "p99 ms": fmt(r.p99ms),
        "max ms": fmt(r.maxMs),
        errors: r.errors,
        "target p99 ≤": "5 ms at 80 % of peak",
      })),
    );
}
