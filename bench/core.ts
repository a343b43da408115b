// Issue 2's benchmark: deploy -> first response, first invocation of a new digest, and warm WAGI echo
// through the router next to a plain Node server measured in the same run.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LIMITS, type Digest, type FunctionRecord, sha256Digest } from "../src/core/index.js";
import { HybridExecutor, type InvocationRequest, Runtime } from "../src/runtime/index.js";
import { FsImage, runFreshInstance, WasiHost } from "../src/runtime/wasi/index.js";
import { api, median, ROOT, startNode, startWasmlet, uniqueVariant } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";
import { hasWrk, wrk } from "./wrk.js";

const ECHO = readFileSync(join(ROOT, "examples/wagi-echo/echo.wasm"));

export async function benchCore(opts: { seconds: number }): Promise<void> {
  await deployToFirstResponse();
  await firstInvocation();
  await instanceReset();
  if (!hasWrk()) {
    console.log("\n(wrk not found: apt-get install wrk to measure throughput)");
    return;
  }
  await warmThroughput(opts.seconds);
}

async function deployToFirstResponse(): Promise<void> {
  const w = await startWasmlet();
  try {
    const times: { create: number; route: number; first: number; total: number }[] = [];
    for (let i = 0; i < 7; i++) {
      const name = `echo-${i}`;
      const code = Buffer.from(uniqueVariant(ECHO, `deploy-${i}-${Date.now()}`)).toString("base64");
      const t0 = performance.now();
      await api(w.controlUrl, "POST", "/functions", { name, contract: "wagi", code, fileName: "echo.wasm" });
      const t1 = performance.now();
      await api(w.controlUrl, "POST", "/triggers/http", { name, function: name, prefix: `/${name}` });
      const t2 = performance.now();
      let res: Response;
      do res = await fetch(`${w.routerUrl}/${name}/x`);
      while (res.status === 404);
      const body = await res.text();
      const t3 = performance.now();
      if (res.status !== 200 || !body.includes("from wasmlet"))
        throw new Error(`bad first response: ${res.status} ${body}`);
      times.push({ create: t1 - t0, route: t2 - t1, first: t3 - t2, total: t3 - t0 });
    }
    const m = (k: keyof (typeof times)[0]) => fmt(median(times.map((t) => t[k])));
    printTable("deploy -> first 200 (WAGI echo, 30 KB, new digest each time; median of 7, ms)", [
      {
        "fn create (push + prepare)": m("create"),
        "route create": m("route"),
        "first request": m("first"),
        total: m("total"),
      },
    ]);
  } finally {
    await w.stop();
  }
}

function fnRecord(digest: Digest): FunctionRecord {
  const v = { version: 1, image: "bench/echo:v1", digest, createdAt: "" };
  return {
    name: "echo",
    contract: "wagi",
    args: [],
    env: { GREETING: "hi" },
    limits: { ...DEFAULT_LIMITS },
    current: v,
    versions: [v],
    createdAt: "",
    updatedAt: "",
  };
}

const REQ: InvocationRequest = {
  method: "GET",
  url: "/echo/x",
  path: "/echo/x",
  query: "",
  headers: { host: "bench" },
  body: new Uint8Array(0),
  remoteAddr: "127.0.0.1",
  remotePort: 1,
  serverName: "127.0.0.1",
  serverPort: 8080,
  protocol: "HTTP/1.1",
  route: { pattern: "/echo/...", scriptName: "/echo", pathInfo: "/x", params: {} },
};

/** In-process: the cost of the first invocation of a digest (rewrite + compile + instantiate + run) vs a warm one. */
async function firstInvocation(): Promise<void> {
  const executor = new HybridExecutor();
  const rows: number[] = [];
  const warm: number[] = [];
  try {
    for (let i = 0; i < 7; i++) {
      const module = uniqueVariant(ECHO, `first-${i}-${Date.now()}`);
      const digest = sha256Digest(module);
      const runtime = new Runtime({
        executor,
        loadImage: async () => ({
          digest,
          entry: "/echo.wasm",
          module,
          files: new Map([["/echo.wasm", module]]),
        }),
      });
      const fn = fnRecord(digest);
      const t0 = performance.now();
      const r = await runtime.invoke(fn, REQ);
      rows.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`first invocation failed: ${r.status} ${Buffer.from(r.body)}`);
      const t1 = performance.now();
      for (let k = 0; k < 1000; k++) await runtime.invoke(fn, REQ);
      warm.push((performance.now() - t1) / 1000);
    }
  } finally {
    await executor.close();
  }
  printTable("first invocation of a digest never compiled (in-process runtime, median of 7)", [
    {
      "first invocation (ms)": fmt(median(rows)),
      "warm invocation (µs)": fmt(median(warm) * 1000),
      "first / warm": fmt(median(rows) / median(warm), 0),
    },
  ]);
}

/**
 * In-process, per call: wasmlet's clean instance (reset from the post-instantiation image) against a fresh
 * instance per call, and against copying the whole memory back (the reset before the image), for a small
 * module and one linked with a 1 MiB stack as the C builder does.
 */
export async function instanceReset(): Promise<void> {
  const executor = new HybridExecutor();
  const LIMITS = DEFAULT_LIMITS;
  const rows: Row[] = [];
  const N = 3000;
  const perCall = (f: () => unknown, n = N) => {
    for (let i = 0; i < 200; i++) f();
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    return ((performance.now() - t) * 1000) / n;
  };
  try {
    for (const path of ["examples/hello/hello.wasm", "test/fixtures/big-stack.wasm"]) {
      const module = readFileSync(join(ROOT, path));
      const digest = sha256Digest(module);
      const files = new Map([["/m.wasm", new Uint8Array(module)]]);
      await executor.prepare({ digest, entry: "/m.wasm", module, files }, LIMITS);
      const inputs = { args: ["m.wasm"], env: [], stdin: new Uint8Array(0) };
      const check = await executor.run(digest, inputs, LIMITS, performance.now() + LIMITS.timeoutMs);
      if (Buffer.from(check.stdout).toString() !== "hello\n") throw new Error(`${path}: bad output`);
      let t = performance.now();
      for (let i = 0; i < 200; i++)
        await executor.run(digest, inputs, LIMITS, performance.now() + LIMITS.timeoutMs);
      t = performance.now();
      for (let i = 0; i < N; i++)
        await executor.run(digest, inputs, LIMITS, performance.now() + LIMITS.timeoutMs);
      const x = ((performance.now() - t) * 1000) / N;
      const compiled = new WebAssembly.Module(module);
      const host = new WasiHost({ fs: new FsImage(files) });
      const fresh = perCall(() => runFreshInstance(compiled, host, inputs), 1000);
      const instance = new WebAssembly.Instance(compiled, {
        wasi_snapshot_preview1: host.imports as unknown as WebAssembly.ModuleImports,
      });
      const mem = new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer);
      const snapshot = mem.slice();
      const copy = perCall(() => mem.set(snapshot));
      rows.push({
        module: `${path} (${mem.byteLength / 65536} pages)`,
        "X: wasmlet clean instance (µs/call)": fmt(x),
        "fresh instance per call (µs)": fmt(fresh),
        "whole-memory copy alone (µs)": fmt(copy),
        "X / fresh": fmt(x / fresh),
      });
    }
  } finally {
    await executor.close();
  }
  printTable(
    `clean instance per call, in process (hello; executor.run vs new Instance + _start; ${N} calls)`,
    rows,
  );
}

async function warmThroughput(seconds: number): Promise<void> {
  const node = await startNode([join(ROOT, "dist/bench/servers/node-hello.js")], /listening (http:\/\/\S+)/);
  const w = await startWasmlet();
  try {
    const code = ECHO.toString("base64");
    await api(w.controlUrl, "POST", "/functions", {
      name: "echo",
      contract: "wagi",
      code,
      env: { GREETING: "hi" },
    });
    await api(w.controlUrl, "POST", "/triggers/http", { name: "echo", function: "echo", prefix: "/echo" });
    const nodeUrl = `${node.match[1]}/`;
    const echoUrl = `${w.routerUrl}/echo/x?y=1`;
    const check = async (url: string, want: string) => {
      const r = await fetch(url);
      const t = await r.text();
      if (r.status !== 200 || !t.includes(want)) throw new Error(`${url} answered ${r.status}: ${t}`);
    };
    await check(nodeUrl, "hello");
    await check(echoUrl, "hi from wasmlet");
    // Warm both, then measure interleaved: A, X, A, X.
    await wrk(nodeUrl, { seconds: 1 });
    await wrk(echoUrl, { seconds: 1 });
    const a1 = await wrk(nodeUrl, { seconds });
    const x1 = await wrk(echoUrl, { seconds });
    const a2 = await wrk(nodeUrl, { seconds });
    const x2 = await wrk(echoUrl, { seconds });
    const a = a1.rps >= a2.rps ? a1 : a2;
    const x = x1.rps >= x2.rps ? x1 : x2;
    const rows: Row[] = [
      {
        server: "A: plain Node http hello",
        "req/s": fmt(a.rps),
        "p50 ms": fmt(a.p50ms),
        "p99 ms": fmt(a.p99ms),
        errors: a.errors,
        "ratio to A": "1.00",
      },
      {
        server: "X: wasmlet WAGI echo via router (fresh state per request)",
        "req/s": fmt(x.rps),
        "p50 ms": fmt(x.p50ms),
        "p99 ms": fmt(x.p99ms),
        errors: x.errors,
        "ratio to A": fmt(x.rps / a.rps),
      },
    ];
    printTable(`warm throughput (wrk -t1 -c32, ${seconds} s, best of 2 interleaved)`, rows);
  } finally {
    await Promise.all([node.stop(), w.stop()]);
  }
}
