// `BENCH=large npm run bench`: a ~30 MB WASI command module (bench/large-module.ts) through a real `wasmlet
// serve`: V8's own `new WebAssembly.Module` time for the same bytes (a fresh node process, node's default flags),
// fn create -> first answer, the first calls, and the server's RSS deployed, used and after the functions are
// deleted. Issue 13's targets: create -> first answer within 4x V8's compile, <= 120 MiB per used function
// beyond its linear memory, RSS back within 64 MiB after delete, no slow second call.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ApiClient } from "../src/client/index.js";
import { DEFAULT_STEPS, LARGE_30MB, largeModule } from "./large-module.js";
import { api, median, rssBytes, startWasmlet, uniqueVariant } from "./procs.js";
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
let out = "", memoryBytes = 0;
if (process.argv[2] === "run") {
  const { openSync, readFileSync: rf, closeSync } = require("node:fs");
  const fd = openSync(process.argv[3] + ".out", "w");
  const wasi = new WASI({ version: "preview1", args: ["m.wasm", "7"], stdin: openSync(process.argv[3], "r"), stdout: fd });
  const inst = new WebAssembly.Instance(m, wasi.getImportObject());
  wasi.start(inst);
  closeSync(fd);
  out = rf(process.argv[3] + ".out", "utf8");
  memoryBytes = inst.exports.memory.buffer.byteLength;
}
console.log(JSON.stringify({ compileMs, compileCpuMs, out, memoryBytes }));
`;

async function probe(
  file: string,
  flags: string[] = [],
  runWith?: string,
): Promise<{ compileMs: number; compileCpuMs: number; out: string; memoryBytes: number }> {
  const args = [...flags, "-e", PROBE, file, ...(runWith ? ["run", runWith] : [])];
  const { stdout } = await exec(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await f();
  return [performance.now() - t, v];
}

/** CPU time a process has used, all its threads (user + system, from /proc; 10 ms resolution), in ms. */
function processCpuMs(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchLarge(opts: { functions?: number } = {}): Promise<void> {
  const count = opts.functions ?? 3;
  const [buildMs, bytes] = await timed(() => largeModule(LARGE_30MB));
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-bench-large-"));
  // BENCH_LARGE_NODE_ARGS: node flags for the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it).
  const nodeArgs = (process.env.BENCH_LARGE_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const w = await startWasmlet(undefined, [], nodeArgs);
  try {
    const file = join(dir, "m.wasm");
    const body = "hello large module\n";
    writeFileSync(file, bytes);
    writeFileSync(join(dir, "stdin"), body);
    const v8Lazy: number[] = [];
    const v8Eager = (await probe(file, ["--no-wasm-lazy-compilation"])).compileMs;
    const expected = await probe(file, [], join(dir, "stdin"));

    await sleep(1000);
    const rssBase = rssBytes(w.proc.pid);
    const rows: Record<string, string>[] = [];
    const client = new ApiClient({ server: w.controlUrl });
    const seconds: number[] = [];
    for (let i = 0; i < count; i++) {
      const name = `large-${i}`;
      const variant = uniqueVariant(bytes, `large-${i}-${Date.now()}`);
      // V8's time for these very bytes, in a fresh process right before the create: the machine's load moves
      // both figures, so each create gets its own baseline.
      writeFileSync(file, variant);
      const { compileMs: v8Now, compileCpuMs: v8Cpu } = await probe(file);
      v8Lazy.push(v8Now);
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
      await api(w.controlUrl, "POST", "/triggers/http", {
        name,
        function: name,
        prefix: `/${name}`,
        methods: ["POST"],
      });
      const call = async () => {
        for (;;) {
          const r = await fetch(`${w.routerUrl}/${name}`, { method: "POST", body });
          const text = await r.text();
          if (r.status === 404) continue;
          if (r.status !== 200 || text !== expected.out)
            throw new Error(
              `${name} answered ${r.status} ${text.slice(0, 200)}; node's WASI: ${expected.out}`,
            );
          return;
        }
      };
      await call();
      const first = performance.now() - t0;
      const firstCpu = processCpuMs(w.proc.pid) - cpu0;
      const calls: number[] = [];
      for (let k = 0; k < 5; k++) calls.push((await timed(call))[0]);
      seconds.push(calls[0]);
      rows.push({
        function: name,
        "fn create ms": fmt(created),
        "create -> first answer ms": fmt(first),
        "V8 compile ms (just before)": fmt(v8Now),
        "/ V8 compile": fmt(first / v8Now),
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
      "large module: fn create -> answers (over HTTP, each a new digest; target: first <= 4x V8)",
      rows,
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
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
