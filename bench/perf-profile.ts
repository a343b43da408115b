// Where X's time goes: wasmlet serve under --cpu-prof while wrk loads the WAGI echo, then the self time of the
// hottest functions and source files of the main thread.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { checkEcho, deployEcho } from "./perf-deploy.js";
import { type Proc, ROOT, startNode } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";
import { wrk } from "./wrk.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export async function benchProfile(seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-prof-"));
  let w: Proc | undefined;
  try {
    // As startWasmlet does, with node's profiler on (it writes the profile when the server exits).
    const p = await startNode(
      [
        "--cpu-prof",
        `--cpu-prof-dir=${dir}`,
        join(ROOT, "bin/wasmlet.js"),
        "serve",
        "--data-dir",
        join(dir, "data"),
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
      ],
      /router on (http:\/\/\S+)[\s\S]*control API and OCI registry on (http:\/\/\S+)/,
    );
    w = p;
    const routerUrl = p.match[1];
    await deployEcho({ controlUrl: p.match[2] }, "echo");
    const url = `${routerUrl}/echo/x?y=1`;
    await checkEcho(url);
    const load = await wrk(url, { seconds });
    await w.stop();
    w = undefined;
    // Main thread only: its file name ends in .<pid>.0.<seq>.cpuprofile (worker threads have tid > 0).
    const file = readdirSync(dir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    if (!file) throw new Error(`no main-thread profile written in ${dir}: ${readdirSync(dir).join(", ")}`);
    report(JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile, load.rps, seconds);
  } finally {
    await w?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(p: CpuProfile, rps: number, seconds: number): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    const cf = byId.get(p.samples[i])?.callFrame;
    if (!cf) continue;
    total += dt;
    const file = cf.url
      ? shortUrl(cf.url)
      : cf.functionName.startsWith("(")
        ? cf.functionName
        : "(native/wasm)";
    const fn = `${cf.functionName || "(anonymous)"} ${cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ""}`;
    fnSelf.set(fn, (fnSelf.get(fn) ?? 0) + dt);
    fileSelf.set(file, (fileSelf.get(file) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, n: number, key: string): Row[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => ({
        [key]: k,
        "self %": fmt((100 * v) / total, 1),
        "µs per request": fmt(v / (rps * seconds)),
      }));
  printTable(
    `X profile: main thread self time under wrk -c32 for ${seconds} s (${fmt(rps)} req/s; node --cpu-prof; "writev" = the socket write syscall, which on loopback also runs the client's TCP receive path) — top functions`,
    top(fnSelf, 14, "function"),
  );
  printTable("X profile — self time by source file", top(fileSelf, 10, "file"));
}

function shortUrl(url: string): string {
  if (url.startsWith("wasm://")) return "(wasm code of the function)";
  const i = url.indexOf("/dist/");
  if (i >= 0) return url.slice(i + 6);
  return url.startsWith("node:") ? url : basename(url);
}
