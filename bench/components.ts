// `BENCH=components npm run bench` (issue 15): two wasi:http hello components through the router — C, the
// componentize-js example (SpiderMonkey, ~13 MB), and S, a small one from C (8 KB, test/fixtures/components) —
// next to the preview1 WAGI echo X and workerd W in the same run (targets: >= 0.5 x X and >= 2 x W), deploy ->
// first 200 of each, and what a clean state per request costs and where a request's CPU goes, in process.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ComponentRunner, prepareComponent } from "../src/runtime/component/index.js";
import { FsImage } from "../src/runtime/wasi/index.js";
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { api, median, type Proc, ROOT, startWasmlet, uniqueVariant } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";
import { startWorkerd } from "./workerd/workerd.js";
import { hasWrk, type LoadResult, wrk } from "./wrk.js";

interface Hello {
  key: string;
  label: string;
  bytes: Uint8Array;
  /** What its answer to GET /<route>/x?y=1 starts with. */
  greeting: string;
}

const HELLOS: Hello[] = [
  {
    key: "C",
    label: "componentize-js hello (SpiderMonkey)",
    bytes: readFileSync(join(ROOT, "examples/http-hello/hello.wasm")),
    greeting: "hello from a component: GET ",
  },
  {
    key: "S",
    label: "small hello from C",
    bytes: readFileSync(join(ROOT, "test/fixtures/components/http-hello.wasm")),
    greeting: "hello from a small component (run 1 of this instance, leaked handle 1): ",
  },
];
const ECHO_PATH = join(ROOT, "examples/wagi-echo/echo.wasm");

export async function benchComponents(opts: { seconds: number; rounds: number }): Promise<void> {
  await deployToFirstResponse();
  for (const h of HELLOS) await cleanStateCost(h);
  if (!hasWrk()) {
    console.log("\n(wrk not found: apt-get install wrk to measure throughput)");
    return;
  }
  await throughput(opts);
}

const size = (h: Hello) =>
  h.bytes.length > 1e6
    ? `${(h.bytes.length / 1e6).toFixed(1)} MB`
    : `${(h.bytes.length / 1e3).toFixed(1)} KB`;

async function deployToFirstResponse(): Promise<void> {
  const w = await startWasmlet();
  const rows: Row[] = [];
  try {
    for (const h of HELLOS) {
      const times: { create: number; first: number; total: number }[] = [];
      for (let i = 0; i < 3; i++) {
        const name = `hello-${h.key.toLowerCase()}-${i}`;
        const code = Buffer.from(uniqueVariant(h.bytes, `deploy-${i}-${Date.now()}`)).toString("base64");
        const t0 = performance.now();
        await api(w.controlUrl, "POST", "/functions", { name, code, fileName: "hello.wasm" });
        const t1 = performance.now();
        await api(w.controlUrl, "POST", "/triggers/http", { name, function: name, prefix: `/${name}` });
        let res: Response;
        do res = await fetch(`${w.routerUrl}/${name}/x`);
        while (res.status === 404);
        const body = await res.text();
        const t2 = performance.now();
        if (res.status !== 200 || !body.startsWith(h.greeting.split(":")[0]))
          throw new Error(`bad first response from ${h.key}: ${res.status} ${body}`);
        times.push({ create: t1 - t0, first: t2 - t1, total: t2 - t0 });
      }
      const m = (k: keyof (typeof times)[0]) => fmt(median(times.map((t) => t[k])));
      rows.push({
        component: `${h.key}: ${h.label}, ${size(h)}`,
        "fn create (push + transpile + compile)": m("create"),
        "route + first request": m("first"),
        total: m("total"),
      });
    }
    printTable("deploy -> first 200 of a wasi:http component (new digest each time; median of 3, ms)", rows);
  } finally {
    await w.stop();
  }
}

const INPUTS = {
  args: ["/hello.wasm"],
  env: [],
  stdin: new Uint8Array(0),
  http: { method: "GET", pathWithQuery: "/x", authority: "bench", headers: [] as [string, string][] },
};

/** The private parts of a runner the bench drives directly. */
interface RunnerInternals {
  live?: { memories: { memory: WebAssembly.Memory; image: { runs: unknown[] } }[] };
  reset(): boolean;
}

/** jco's glue with the definition `re` finds changed so that ComponentRunner's rewrite (glue.ts) skips it. */
const unrecognised = (js: string, re: RegExp) => js.replace(re, "$& ");
const DEBUG_LOG = /^[ \t]*const _debugLog = \(\.\.\.args\) => \{$/m;
const CREATE_TASK = /^[ \t]*function createNewCurrentTask\(args\) \{$/m;

/**
 * CPU per run (process CPU time, so that other work on the machine does not count; best of interleaved rounds),
 * on one thread as the executor runs it: the run and the reset after it with jco's glue as it is generated, with
 * its debug logger quieted only, and as the runner rewrites it (glue.ts); then the reset alone and a run on a
 * fresh instance.
 */
async function cleanStateCost(h: Hello): Promise<void> {
  const prepared = await prepareComponent(h.bytes, 128);
  const make = (js: string) => new ComponentRunner({ ...prepared, js }, new FsImage(new Map()), 1 << 24);
  const variants = {
    "glue as jco writes it": make(unrecognised(unrecognised(prepared.js, DEBUG_LOG), CREATE_TASK)),
    "debug logger quieted": make(unrecognised(prepared.js, CREATE_TASK)),
    "+ synchronous calls without p3 tasks (the runner)": make(prepared.js),
  };
  const cpuPerRun = (runner: ComponentRunner, n: number, before?: () => void): number => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      before?.();
      const deadline = performance.now() + 10_000;
      const r = runner.run(INPUTS, deadline, deadline, 1 << 20);
      if (r.error) throw new Error(`${h.key} run failed: ${r.error.message}`);
      runner.settle();
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / n;
  };
  const n = h.bytes.length > 1e6 ? 300 : 3000;
  const best: Record<string, number> = {};
  const runner = variants["+ synchronous calls without p3 tasks (the runner)"];
  const internals = runner as unknown as RunnerInternals;
  let reset = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    for (const [name, r] of Object.entries(variants))
      best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, cpuPerRun(r, n));
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) internals.reset();
    const c = process.cpuUsage(c0);
    reset = Math.min(reset, (c.user + c.system) / 1000 / n);
  }
  const fresh = cpuPerRun(runner, h.bytes.length > 1e6 ? 20 : 300, () => {
    (runner as unknown as { live: unknown }).live = undefined;
  });
  const memories = internals.live?.memories ?? [];
  const row: Row = {};
  for (const [name, ms] of Object.entries(best)) row[`run + reset, ${name}`] = fmt(ms, 3);
  row["of which the reset (memories + globals + resource tables)"] = fmt(reset, 3);
  row["run on a fresh instance"] = fmt(fresh, 3);
  row["memory pages (non-zero runs)"] = memories
    .map((m) => `${m.memory.buffer.byteLength / 65536} (${m.image.runs.length})`)
    .join(" + ");
  printTable(`clean state per request, ${h.key}: ${h.label} (${size(h)}), in process (CPU ms per run)`, [
    row,
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
  const hellos: Target[] = HELLOS.map((h) => ({
    key: h.key,
    label: `${h.key}: wasi:http ${h.label} via router`,
    runs: [],
  }));
  const w: Target = { key: "W", label: "W: workerd, WAGI echo, fresh instance per request", runs: [] };
  try {
    const wl = await startWasmlet();
    procs.push(wl);
    await deployEcho(wl, "echo");
    x.url = `${wl.routerUrl}/echo/x?y=1`;
    await checkEcho(x.url);
    for (const [i, h] of HELLOS.entries()) {
      const name = `hello-${h.key.toLowerCase()}`;
      await api(wl.controlUrl, "POST", "/functions", {
        name,
        code: Buffer.from(h.bytes).toString("base64"),
        fileName: "hello.wasm",
      });
      await api(wl.controlUrl, "POST", "/triggers/http", { name, function: name, prefix: `/${name}` });
      const url = `${wl.routerUrl}/${name}/x?y=1`;
      const r = await fetch(url);
      const body = await r.text();
      if (r.status !== 200 || body !== `${h.greeting}/${name}/x?y=1\n`)
        throw new Error(`${h.key} answered ${r.status}: ${body}`);
      hellos[i].url = url;
    }
    try {
      const wd = await startWorkerd(ECHO_PATH);
      procs.push(wd);
      w.url = `${wd.url}/echo/x?y=1`;
    } catch (e) {
      w.missing = `workerd could not run: ${e instanceof Error ? e.message : e}`.replaceAll("\n", " | ");
    }
    const all = [x, ...hellos, w];
    const targets = all.filter((t) => t.url);
    for (const t of targets) await wrk(t.url as string, { seconds: 1 });
    for (let round = 0; round < opts.rounds; round++)
      for (const t of targets) t.runs.push(await wrk(t.url as string, { seconds: opts.seconds }));
    const best = (t: Target) => t.runs.reduce((a, b) => (b.rps > a.rps ? b : a));
    const ratio = (t: Target, base: Target) => (base.runs.length ? fmt(best(t).rps / best(base).rps) : "-");
    const rows: Row[] = all.map((t) =>
      t.runs.length === 0
        ? {
            target: t.label,
            "req/s": t.missing ?? "-",
            "p50 ms": "-",
            "p99 ms": "-",
            errors: "-",
            "/ X": "-",
            "/ W": "-",
          }
        : {
            target: t.label,
            "req/s": fmt(best(t).rps),
            "p50 ms": fmt(best(t).p50ms),
            "p99 ms": fmt(best(t).p99ms),
            errors: best(t).errors,
            "/ X": ratio(t, x),
            "/ W": ratio(t, w),
          },
    );
    printTable(
      `warm throughput (wrk -t1 -c32, ${opts.seconds} s, best of ${opts.rounds} interleaved rounds; targets: component >= 0.5 x X and >= 2 x W)`,
      rows,
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}
