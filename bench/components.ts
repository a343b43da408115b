// `BENCH=components npm run bench` (issue 15): the componentize-js wasi:http hello through the router next to the
// preview1 WAGI echo X in the same run (target: C >= 0.5 x X), workerd W as a reference, deploy -> first 200 of a
// component, and what a clean state per request costs for a ~13 MB SpiderMonkey-based component.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ComponentRunner, prepareComponent } from "../src/runtime/component/index.js";
import { FsImage } from "../src/runtime/wasi/index.js";
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { api, median, type Proc, ROOT, startWasmlet, uniqueVariant } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";
import { startWorkerd } from "./workerd/workerd.js";
import { hasWrk, type LoadResult, wrk } from "./wrk.js";

const HTTP_HELLO = readFileSync(join(ROOT, "examples/http-hello/hello.wasm"));
const ECHO_PATH = join(ROOT, "examples/wagi-echo/echo.wasm");

export async function benchComponents(opts: { seconds: number; rounds: number }): Promise<void> {
  await deployToFirstResponse();
  await cleanStateCost();
  if (!hasWrk()) {
    console.log("\n(wrk not found: apt-get install wrk to measure throughput)");
    return;
  }
  await throughput(opts);
}

async function deployToFirstResponse(): Promise<void> {
  const w = await startWasmlet();
  try {
    const times: { create: number; first: number; total: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const name = `hello-${i}`;
      const code = Buffer.from(uniqueVariant(HTTP_HELLO, `deploy-${i}-${Date.now()}`)).toString("base64");
      const t0 = performance.now();
      await api(w.controlUrl, "POST", "/functions", { name, code, fileName: "hello.wasm" });
      const t1 = performance.now();
      await api(w.controlUrl, "POST", "/triggers/http", { name, function: name, prefix: `/${name}` });
      let res: Response;
      do res = await fetch(`${w.routerUrl}/${name}/x`);
      while (res.status === 404);
      const body = await res.text();
      const t2 = performance.now();
      if (res.status !== 200 || !body.startsWith("hello from a component"))
        throw new Error(`bad first response: ${res.status} ${body}`);
      times.push({ create: t1 - t0, first: t2 - t1, total: t2 - t0 });
    }
    const m = (k: keyof (typeof times)[0]) => fmt(median(times.map((t) => t[k])));
    printTable(
      `deploy -> first 200 of the wasi:http hello component (${(HTTP_HELLO.length / 1e6).toFixed(1)} MB, new digest each time; median of 3, ms)`,
      [
        {
          "fn create (push + transpile + compile)": m("create"),
          "route + first request": m("first"),
          total: m("total"),
        },
      ],
    );
  } finally {
    await w.stop();
  }
}

/** In process, one thread: a run on the reset instance against a fresh instance per run, and the reset alone. */
async function cleanStateCost(): Promise<void> {
  const prepared = await prepareComponent(HTTP_HELLO, 128);
  const waiter = { wait: () => true, cancelled: false, parked() {} };
  const runner = new ComponentRunner(prepared, new FsImage(new Map()), 1 << 24, waiter);
  const inputs = {
    args: ["/hello.wasm"],
    env: [],
    stdin: new Uint8Array(0),
    http: { method: "GET", pathWithQuery: "/x", authority: "bench", headers: [] as [string, string][] },
  };
  const perRun = (n: number, before?: () => void) => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      before?.();
      const t = performance.now();
      const r = runner.run(inputs, performance.now() + 10_000, 1 << 20);
      times.push(performance.now() - t);
      if (r.error) throw new Error(`run failed: ${r.error.message}`);
    }
    return median(times.slice(Math.floor(n / 5)));
  };
  const internals = runner as unknown as { live: unknown; reset(): boolean };
  const reset = perRun(1000);
  const fresh = perRun(60, () => {
    internals.live = undefined;
  });
  // The reset alone: restore the memories and globals of a live instance, again and again.
  perRun(1);
  const t = performance.now();
  for (let i = 0; i < 500; i++) internals.reset();
  const resetOnly = (performance.now() - t) / 500;
  const pages = prepared.modules["component.core.wasm"]?.module
    ? (runner as unknown as { live?: { memories: { memory: WebAssembly.Memory }[] } }).live?.memories
        .map((m) => m.memory.buffer.byteLength / 65536)
        .join("+")
    : "?";
  printTable("clean state per request, componentize-js hello, in process (median ms per run)", [
    {
      "run on the reset instance": fmt(reset),
      "of which the reset (memories + globals)": fmt(resetOnly),
      "run on a fresh instance (jco instantiate)": fmt(fresh),
      "fresh / reset": fmt(fresh / reset),
      "memory pages": pages ?? "?",
    },
  ]);
}

interface Target {
  key: string;
  label: string;
  url?: string;
  missing?: string;
  runs: LoadResult[];
}

async function throughput(opts: { seconds: number; rounds: number }): Promise<void> {
  const procs: Proc[] = [];
  const x: Target = { key: "X", label: "X: preview1 WAGI echo via router (module)", runs: [] };
  const c: Target = {
    key: "C",
    label: "C: wasi:http hello component via router (componentize-js)",
    runs: [],
  };
  const w: Target = { key: "W", label: "W: workerd, WAGI echo, fresh instance per request", runs: [] };
  try {
    const wl = await startWasmlet();
    procs.push(wl);
    await deployEcho(wl, "echo");
    x.url = `${wl.routerUrl}/echo/x?y=1`;
    await checkEcho(x.url);
    await api(wl.controlUrl, "POST", "/functions", {
      name: "hello",
      code: HTTP_HELLO.toString("base64"),
      fileName: "hello.wasm",
    });
    await api(wl.controlUrl, "POST", "/triggers/http", {
      name: "hello",
      function: "hello",
      prefix: "/hello",
    });
    c.url = `${wl.routerUrl}/hello/x?y=1`;
    const r = await fetch(c.url);
    const body = await r.text();
    if (r.status !== 200 || body !== "hello from a component: GET /hello/x?y=1\n")
      throw new Error(`C answered ${r.status}: ${body}`);
    try {
      const wd = await startWorkerd(ECHO_PATH);
      procs.push(wd);
      w.url = `${wd.url}/echo/x?y=1`;
    } catch (e) {
      w.missing = `workerd could not run: ${e instanceof Error ? e.message : e}`.replaceAll("\n", " | ");
    }
    const targets = [x, c, w].filter((t) => t.url);
    for (const t of targets) await wrk(t.url as string, { seconds: 1 });
    for (let round = 0; round < opts.rounds; round++)
      for (const t of targets) t.runs.push(await wrk(t.url as string, { seconds: opts.seconds }));
    const best = (t: Target) => t.runs.reduce((a, b) => (b.rps > a.rps ? b : a));
    const bx = best(x);
    const rows: Row[] = [x, c, w].map((t) =>
      t.runs.length === 0
        ? {
            target: t.label,
            "req/s": t.missing ?? "-",
            "p50 ms": "-",
            "p99 ms": "-",
            errors: "-",
            "ratio to X": "-",
          }
        : {
            target: t.label,
            "req/s": fmt(best(t).rps),
            "p50 ms": fmt(best(t).p50ms),
            "p99 ms": fmt(best(t).p99ms),
            errors: best(t).errors,
            "ratio to X": fmt(best(t).rps / bx.rps),
          },
    );
    printTable(
      `warm throughput (wrk -t1 -c32, ${opts.seconds} s, best of ${opts.rounds} interleaved rounds; target C >= 0.5 x X)`,
      rows,
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}
