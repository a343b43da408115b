// Issue 17's measurements (`BENCH=cluster`): serve processes on 127.0.0.1/2/3 sharing a real 3-member etcd cluster.
// Requests/s through 1, 2 and 3 nodes (one wrk per node) with each process's CPU share, the time from a create on
// node 1 to the first 200 on node 3, a node killed -9 under load, and the API's latency on etcd vs on SQLite.
import { EtcdCluster, etcdMissing } from "../src/store/test-support.js";
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { api, cpuSeconds, median, startWasmlet, type Wasmlet } from "./procs.js";
import { fmt, printTable } from "./report.js";
import { hasWrk, type LoadResult, wrk } from "./wrk.js";

async function firstOk(url: string, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return performance.now() - t0;
    } catch {}
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`${url}: no 200 within ${timeoutMs} ms`);
}

/**
 * Busy polling is off on every node and on the baseline: several serve processes on 2 cores would each keep a core
 * spinning while traffic lasts (it is meant for one serve process per machine).
 */
const NO_BUSY_POLL = ["--busy-poll-us", "0"];

function node(i: number, store: string[], dir?: string): Promise<Wasmlet> {
  return startWasmlet(dir, [
    ...store,
    ...NO_BUSY_POLL,
    "--listen",
    `127.0.0.${i + 1}:0`,
    "--control",
    `127.0.0.${i + 1}:0`,
  ]);
}

/** Runs one wrk per node at once; returns their results and each node's CPU seconds over the run. */
async function loadAll(nodes: Wasmlet[], seconds: number): Promise<{ runs: LoadResult[]; cpu: number[] }> {
  const before = nodes.map((n) => cpuSeconds(n.proc.pid));
  const runs = await Promise.all(nodes.map((n) => wrk(`${n.routerUrl}/c/x`, { seconds, connections: 16 })));
  return { runs, cpu: nodes.map((n, i) => cpuSeconds(n.proc.pid) - before[i]) };
}

async function apiLatency(controlUrl: string, label: string, runs: number): Promise<Record<string, string>> {
  const t = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  const create: number[] = [];
  const get: number[] = [];
  const list: number[] = [];
  for (let i = 0; i < runs; i++) {
    create.push(await t(() => deployEcho({ controlUrl }, `lat${i}`)));
    get.push(await t(() => api(controlUrl, "GET", `/functions/lat${i}`)));
    list.push(await t(() => api(controlUrl, "GET", "/functions")));
  }
  return {
    store: label,
    "create fn+route ms (median)": fmt(median(create)),
    "get ms": fmt(median(get)),
    "list ms": fmt(median(list)),
  };
}

export async function benchCluster(opts: { seconds: number }): Promise<void> {
  const missing = etcdMissing() ?? (hasWrk() ? undefined : "wrk is not installed");
  if (missing) {
    console.log(`\n## cluster: skipped (${missing})`);
    return;
  }
  const etcd = await EtcdCluster.start();
  const store = ["--store", `etcd://${etcd.endpoints.map((e) => new URL(e).host).join(",")}`];
  const nodes: Wasmlet[] = [];
  let sqlite: Wasmlet | undefined;
  try {
    for (let i = 0; i < 3; i++) nodes.push(await node(i, store));
    // Create on node 1 -> first 200 on node 3 (polled every 2 ms).
    const t0 = performance.now();
    await deployEcho(nodes[0], "c");
    const created = performance.now() - t0;
    const first = await firstOk(`${nodes[2].routerUrl}/c/x`);
    await checkEcho(`${nodes[1].routerUrl}/c/x`);
    printTable("cluster: create on node 1 -> first 200 on node 3", [
      { "create + route (ms)": fmt(created), "then first 200 on node 3 (ms)": fmt(first) },
    ]);

    // Throughput through 1, 2, 3 nodes, one wrk each (every process on the same 2 cores); baseline: one node on SQLite.
    sqlite = await startWasmlet(undefined, NO_BUSY_POLL);
    await deployEcho(sqlite, "c");
    const rows = [];
    // The baseline runs first and last: on a shared 2-core machine the drift between the two is the noise floor.
    for (const [idx, k] of [0, 1, 2, 3, 0].entries()) {
      const { runs, cpu } = await loadAll(k === 0 ? [sqlite] : nodes.slice(0, k), opts.seconds);
      const rps = runs.reduce((a, r) => a + r.rps, 0);
      const cpuTotal = cpu.reduce((a, b) => a + b, 0);
      rows.push({
        nodes: k === 0 ? `1 (SQLite, baseline${idx > 0 ? ", again" : ""})` : k,
        "req/s (sum)": fmt(rps, 0),
        "req/s per node": runs.map((r) => fmt(r.rps, 0)).join(" / "),
        errors: runs.reduce((a, r) => a + r.errors, 0),
        "node CPU s": cpu.map((c) => fmt(c)).join(" / "),
        "req per node-CPU-s": fmt(rps / (cpuTotal / opts.seconds), 0),
      });
    }
    printTable("cluster: requests/s through 1/2/3 nodes (one wrk -t1 -c16 per node)", rows);

    // A node killed -9 under load: the other nodes' errors, then how long a restarted one takes to serve.
    const loadSurvivor = wrk(`${nodes[1].routerUrl}/c/x`, { seconds: 4, connections: 16 });
    const loadVictim = wrk(`${nodes[2].routerUrl}/c/x`, { seconds: 4, connections: 16 });
    await new Promise((r) => setTimeout(r, 1500));
    const victimDir = nodes[2].dataDir;
    nodes[2].proc.kill("SIGKILL");
    const [survivor, victim] = await Promise.all([loadSurvivor, loadVictim]);
    const t1 = performance.now();
    nodes[2] = await node(2, store, victimDir);
    await firstOk(`${nodes[2].routerUrl}/c/x`);
    printTable("cluster: node 3 killed -9 under load (4 s of wrk on nodes 2 and 3)", [
      {
        "node 2 req/s": fmt(survivor.rps, 0),
        "node 2 errors": survivor.errors,
        "node 3 errors (the killed one)": victim.errors,
        "node 3 restart -> first 200 (ms)": fmt(performance.now() - t1),
      },
    ]);

    // API latency: etcd node vs a single node on SQLite, same requests.
    const runs = 15;
    printTable("cluster: API latency, etcd store vs SQLite (same machine)", [
      await apiLatency(sqlite.controlUrl, "sqlite", runs),
      await apiLatency(nodes[0].controlUrl, "etcd (3 members)", runs),
    ]);
  } finally {
    await sqlite?.stop();
    for (const n of nodes) await n.stop();
    await etcd.stop();
  }
}
