// `BENCH=large npm run bench`: a ~30 MB WASI command module (bench/large-module.ts) through a real `wasmlet
// serve`: V8's own `new WebAssembly.Module` time for the same bytes (a fresh node process, node's default flags)
// and, in that process, node's own first run of them under its WASI (instantiate + run: the functions the run
// reaches are compiled on their first call), fn create -> first answer, the first calls, and the server's RSS
// deployed, used and after the functions are deleted. Issue 13's targets: create -> first answer within 4x V8's
// compile, <= 120 MiB per used function beyond its linear memory, RSS back within 64 MiB after delete, no slow
// second call. Also what the creates cost the other functions of the server: a small function's latency while
// they happen, against while idle. And a control measured beside each create: a plain node HTTP server that only
// reads the upload and compiles it, plus node's own first run of the module.
import { type ChildProcessByStdio, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { promisify } from "node:util";
import { exchange } from "../src/client/http.js";
import { ApiClient } from "../src/client/index.js";
import { DEFAULT_STEPS, LARGE_30MB, largeModule } from "./large-module.js";
import { checkEcho, ECHO } from "./perf-deploy.js";
import {
  api,
  cpuSeconds,
  median,
  rssBytes,
  startNode,
  startWasmlet,
  uniqueVariant,
  waitQuiet,
} from "./procs.js";
import { fmt, printTable } from "./report.js";

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** Compiles (and, with `run`, runs under node's WASI) the module in a fresh node process: nothing cached. */
const PROBE = `
const { readFileSync } = require("node:fs");
const { WASI } = require("node:wasi");
const bytes = readFileSync(process.argv[1]);
const t = performance.now();
const cpu0 = process.cpuUsage();
const m = new WebAssembly.Module(bytes);
const compileMs = performance.now() - t;
const cpu = process.cpuUsage(cpu0);
const compileCpuMs = (cpu.user + cpu.system) / 1000;
let out = "", memoryBytes = 0, firstRunMs = 0;
if (process.argv[2] === "run") {
  const r0 = performance.now();
  const { openSync, readFileSync: rf, closeSync } = require("node:fs");
  const fd = openSync(process.argv[3] + ".out", "w");
  const wasi = new WASI({ version: "preview1", args: ["m.wasm", "7"], stdin: openSync(process.argv[3], "r"), stdout: fd });
  const inst = new WebAssembly.Instance(m, wasi.getImportObject());
  wasi.start(inst);
  firstRunMs = performance.now() - r0;
  closeSync(fd);
  out = rf(process.argv[3] + ".out", "utf8");
  memoryBytes = inst.exports.memory.buffer.byteLength;
}
console.log(JSON.stringify({ compileMs, compileCpuMs, out, memoryBytes, firstRunMs }));
`;

async function probe(
  file: string,
  flags: string[] = [],
  runWith?: string,
): Promise<{
  compileMs: number;
  compileCpuMs: number;
  out: string;
  memoryBytes: number;
  firstRunMs: number;
}> {
  const args = [...flags, "-e", PROBE, file, ...(runWith ? ["run", runWith] : [])];
  const { stdout } = await exec(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

/**
 * The control server (a process of its own): the least a server that checks an upload does before it can answer
 * with it. It reads the body into one Buffer and compiles it (`new WebAssembly.Module`, node's defaults: V8
 * validates every function, lazily compiled); no multipart, storage, digest, image or sandbox. Its upload-to-reply
 * time, plus node's own first run of the module in the probe, is create -> first answer without Wasmlet's work,
 * on the same machine in the same minute. (It does not run the module itself: run under node's WASI in a request
 * handler of such a server, this module ended the process with SIGSEGV in 10 of 16 runs here, and in none of 6
 * with --wasm-enforce-bounds-checks; the probe's run, in a fresh process, never did.)
 */
const CONTROL_SERVER = `
const http = require("node:http");
let module;
http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    try {
      module = new WebAssembly.Module(Buffer.concat(chunks));
      res.end("compiled");
    } catch (e) {
      res.statusCode = 400;
      res.end(String(e));
    }
  });
}).listen(0, "127.0.0.1", function () { console.log("control on " + this.address().port); });
`;

/** Uploads `module` to the control server and waits for its reply; the time it took. */
async function controlCreate(url: string, module: Uint8Array): Promise<number> {
  const t = performance.now();
  const r = await exchange(url, {
    method: "POST",
    headers: { "content-type": "application/wasm" },
    body: module,
  });
  if (r.status !== 200) throw new Error(`the control server answered ${r.status}: ${r.text()}`);
  return performance.now() - t;
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await f();
  return [performance.now() - t, v];
}

/** CPU time a process has used, all its threads (user + system, from /proc; 10 ms resolution), in ms. */
const processCpuMs = (pid: number | undefined): number => cpuSeconds(pid) * 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the server has used under 10 ms of CPU in 300 ms beyond `busyMsPer300` (what other traffic
 * costs it; at most 10 s): the previous function's background work (its rewrite, the collection after it)
 * done, as when a user creates a function. Returns the time waited.
 */
function quiet(pid: number | undefined, busyMsPer300 = 0): Promise<number> {
  return waitQuiet(() => processCpuMs(pid), 10 + busyMsPer300, 10_000);
}

/**
 * A client in a process of its own that GETs `url` one request after another (2 ms apart, keep-alive, each given
 * up after 10 s) until its stdin ends, then prints the latencies it saw (ms, sorted) and its first error as JSON.
 */
const LATENCY_PROBE = `
const http = require("node:http");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const lat = [];
let running = true;
process.stdin.on("end", () => { running = false; }).resume();
const one = () => new Promise((res, rej) => {
  const s = performance.now();
  const req = http.get(process.argv[1], { agent, timeout: 10000 }, (r) => {
    r.resume();
    r.on("end", () => { lat.push(performance.now() - s); res(); });
    r.on("error", rej);
  });
  req.on("timeout", () => req.destroy(new Error("no answer in 10 s"))).on("error", rej);
});
(async () => {
  let error;
  try {
    while (running) { await one(); await new Promise((r) => setTimeout(r, 2)); }
  } catch (e) {
    error = String(e);
  }
  console.log(JSON.stringify({ lat: lat.sort((a, b) => a - b), error }));
  process.exit(0);
})();
`;

/** Starts the latency probe on `url`; `stop()` ends it and gives what it saw, or throws the error it met. */
function latencyProbe(url: string): { stop(): Promise<number[]> } {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(
    process.execPath,
    ["-e", LATENCY_PROBE, url],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  // "close": its output is all read (at "exit" it may not be).
  const closed = new Promise<void>((r) => child.once("close", () => r()));
  return {
    stop: async () => {
      child.stdin.end();
      await closed;
      const { lat, error } = JSON.parse(out) as { lat: number[]; error?: string };
      if (error) throw new Error(`the latency probe of ${url} failed: ${error}`);
      return lat;
    },
  };
}

/** A latency probe's figures: requests, p50, p99, max, and how many took over 10 ms. */
function latencyRow(what: string, lat: number[]): Record<string, string> {
  const at = (q: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * q))];
  return {
    window: what,
    requests: String(lat.length),
    "p50 ms": fmt(at(0.5)),
    "p99 ms": fmt(at(0.99)),
    "max ms": fmt(lat[lat.length - 1]),
    "over 10 ms": String(lat.filter((x) => x > 10).length),
  };
}

export async function benchLarge(opts: { functions?: number } = {}): Promise<void> {
  const count = opts.functions ?? 3;
  const [buildMs, bytes] = await timed(() => largeModule(LARGE_30MB));
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-bench-large-"));
  // BENCH_LARGE_NODE_ARGS: node flags for the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it).
  const nodeArgs = (process.env.BENCH_LARGE_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const w = await startWasmlet(undefined, [], nodeArgs);
  let control: Awaited<ReturnType<typeof startNode>> | undefined;
  try {
    control = await startNode(["-e", CONTROL_SERVER], /control on (\d+)/);
    const controlUrl = `http://127.0.0.1:${control.match[1]}/`;
    const file = join(dir, "m.wasm");
    const body = "hello large module\n";
    writeFileSync(file, bytes);
    writeFileSync(join(dir, "stdin"), body);
    const v8Lazy: number[] = [];
    const v8Eager = (await probe(file, ["--no-wasm-lazy-compilation"])).compileMs;
    const expected = await probe(file, [], join(dir, "stdin"));

    // A small function served beside the large ones (its latency is measured after them), created as the large
    // ones are (a multipart body): this process's own first multipart upload is not counted in the first row.
    const client = new ApiClient({ server: w.controlUrl });
    await client.createFunction(
      { name: "small", contract: "wagi", fileName: "echo.wasm", env: { GREETING: "hi" } },
      ECHO,
    );
    await api(w.controlUrl, "POST", "/triggers/http", { name: "small", function: "small", prefix: "/small" });
    const smallUrl = `${w.routerUrl}/small/x`;
    // The route may take a moment to reach the router.
    for (let i = 0; i < 100 && (await fetch(smallUrl)).status === 404; i++) await sleep(20);
    for (let i = 0; i < 20; i++) await checkEcho(smallUrl);
    await quiet(w.proc.pid);
    const rssBase = rssBytes(w.proc.pid);
    // The control's first upload is not counted (as the small function's create above).
    await controlCreate(controlUrl, bytes);
    const rows: Record<string, string>[] = [];
    const seconds: number[] = [];
    const quietWaits: number[] = [];
    const route = (name: string) =>
      api(w.controlUrl, "POST", "/triggers/http", {
        name,
        function: name,
        prefix: `/${name}`,
        methods: ["POST"],
      });
    /** Calls `name` until its route is there; throws unless it answers as node's WASI does. */
    const call = async (name: string) => {
      for (;;) {
        const r = await fetch(`${w.routerUrl}/${name}`, { method: "POST", body });
        const text = await r.text();
        if (r.status === 404) continue;
        if (r.status !== 200 || text !== expected.out)
          throw new Error(`${name} answered ${r.status} ${text.slice(0, 200)}; node's WASI: ${expected.out}`);
        return;
      }
    };
    for (let i = 0; i < count; i++) {
      quietWaits.push(await quiet(w.proc.pid));
      const name = `large-${i}`;
      const variant = uniqueVariant(bytes, `large-${i}-${Date.now()}`);
      // V8's time for these very bytes, in a fresh process right before the create: the machine's load moves
      // both figures, so each create gets its own baseline.
      writeFileSync(file, variant);
      // Node's own path from bytes to the first answer, in the same fresh process: the compile, then the
      // instantiation and the first run (V8 compiles each function the run reaches on its first call).
      const {
        compileMs: v8Now,
        compileCpuMs: v8Cpu,
        firstRunMs: nodeRun,
        out: nodeOut,
      } = await probe(file, [], join(dir, "stdin"));
      if (nodeOut !== expected.out) throw new Error(`node's WASI answered ${nodeOut} for ${name}`);
      v8Lazy.push(v8Now);
      const controlMs = (await controlCreate(controlUrl, variant)) + nodeRun;
      // The control's process done with its compile (and the collection after it) before Wasmlet's create starts.
      await quiet(control.proc.pid);
      const cpu0 = processCpuMs(w.proc.pid);
      const t0 = performance.now();
      // As `wasmlet fn create --code` sends it (ApiClient): the module's bytes as a multipart part, not base64 in
      // JSON (BENCH_LARGE_UPLOAD=json for the JSON form).
      if (process.env.BENCH_LARGE_UPLOAD === "json")
        await api(w.controlUrl, "POST", "/functions", {
          name,
          code: Buffer.from(variant).toString("base64"),
          fileName: "m.wasm",
          args: ["7"],
        });
      else await client.createFunction({ name, fileName: "m.wasm", args: ["7"] }, variant);
      const created = performance.now() - t0;
      await route(name);
      await call(name);
      const first = performance.now() - t0;
      const firstCpu = processCpuMs(w.proc.pid) - cpu0;
      const calls: number[] = [];
      for (let k = 0; k < 5; k++) calls.push((await timed(() => call(name)))[0]);
      seconds.push(calls[0]);
      rows.push({
        function: name,
        "fn create ms": fmt(created),
        "create -> first answer ms": fmt(first),
        "V8 compile ms (just before)": fmt(v8Now),
        "/ V8 compile": fmt(first / v8Now),
        "node: compile + first run ms": fmt(v8Now + nodeRun),
        "/ node's": fmt(first / (v8Now + nodeRun)),
        "control: plain server's upload + compile, + node's first run ms": fmt(controlMs),
        "control / V8 compile": fmt(controlMs / v8Now),
        "server CPU ms, create -> first answer": fmt(firstCpu),
        "V8 compile CPU ms": fmt(v8Cpu),
        "CPU / V8 CPU": fmt(firstCpu / v8Cpu),
        "2nd call ms": fmt(calls[0]),
        "3rd-6th call ms": calls
          .slice(1)
          .map((c) => fmt(c))
          .join(" "),
      });
    }
    await sleep(3000);
    const rssUsed = rssBytes(w.proc.pid);
    for (let i = 0; i < count; i++) {
      await api(w.controlUrl, "DELETE", `/triggers/http/large-${i}`);
      await api(w.controlUrl, "DELETE", `/functions/large-${i}`);
    }
    await sleep(5000);
    const rssDeleted = rssBytes(w.proc.pid);

    // The small function's latency: 3 s idle, then while `busyCount` more large functions are created and called.
    const busyCount = 2;
    const idleProbe = latencyProbe(smallUrl);
    const idleCpu0 = processCpuMs(w.proc.pid);
    await sleep(3000);
    const probeCpuPer300 = (processCpuMs(w.proc.pid) - idleCpu0) / 10;
    const idleLatency = await idleProbe.stop();
    await quiet(w.proc.pid);
    const busyProbe = latencyProbe(smallUrl);
    const busyT0 = performance.now();
    try {
      for (let i = 0; i < busyCount; i++) {
        const name = `busy-${i}`;
        await client.createFunction(
          { name, fileName: "m.wasm", args: ["7"] },
          uniqueVariant(bytes, `${name}-${Date.now()}`),
        );
        await route(name);
        await call(name);
        await quiet(w.proc.pid, probeCpuPer300);
      }
    } catch (e) {
      // The probe does not go on sending requests.
      await busyProbe.stop().catch(() => undefined);
      throw e;
    }
    const busyLatency = await busyProbe.stop();
    const busyMs = performance.now() - busyT0;
    for (let i = 0; i < busyCount; i++) {
      await api(w.controlUrl, "DELETE", `/triggers/http/busy-${i}`);
      await api(w.controlUrl, "DELETE", `/functions/busy-${i}`);
    }

    printTable(
      `large module: ${fmt(bytes.byteLength / MiB)} MiB WASI command (${LARGE_30MB.functions} C functions at -O0 + ${LARGE_30MB.tableBytes / MiB} MiB table; a call runs ${DEFAULT_STEPS} of them; built in ${fmt(buildMs / 1000)} s)`,
      [
        {
          "V8 new WebAssembly.Module ms (node defaults: lazy; median of the creates' baselines)": fmt(
            median(v8Lazy),
          ),
          "V8 eager (--no-wasm-lazy-compilation) ms": fmt(v8Eager),
          "linear memory MiB": fmt(expected.memoryBytes / MiB),
        },
      ],
    );
    printTable(
      `large module: fn create -> answers (over HTTP, each a new digest, each once the server is quiet — waited ${quietWaits.map((q) => fmt(q / 1000)).join(" / ")} s; target: first <= 4x V8)`,
      rows,
    );
    printTable(
      "large module: a small WAGI function's latency on the same server (one request at a time, 2 ms apart, from a process of its own)",
      [
        latencyRow("idle server, 3 s", idleLatency),
        latencyRow(
          `${busyCount} more large creates, first calls, until quiet (${fmt(busyMs / 1000)} s)`,
          busyLatency,
        ),
      ],
    );
    const perFn = (rssUsed - rssBase) / count / MiB - expected.memoryBytes / MiB;
    printTable(
      `large module: server RSS, ${count} functions (targets: <= 120 MiB/fn beyond linear memory, delete within 64 MiB)`,
      [
        {
          "before MiB": fmt(rssBase / MiB),
          "deployed + used, idle 3 s MiB": fmt(rssUsed / MiB),
          "per fn beyond linear memory MiB": fmt(perFn),
          "after delete, 5 s MiB": fmt(rssDeleted / MiB),
          "after delete - before MiB": fmt((rssDeleted - rssBase) / MiB),
        },
      ],
    );
  } finally {
    await control?.stop();
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
