// Child processes for the benchmark: servers it starts and stops itself.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
// The e2e harness starts node processes for the tests; the benchmark starts its own with the same code.
import { startNode as spawnNode } from "../test/e2e/harness.js";

// For servers that cannot listen on port 0 and report it.
export { freePort } from "../src/registry/test-support.js";
// The main thread's CPU time, as the e2e tests read it too.
export { mainThreadCpuSeconds } from "../test/e2e/harness.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface Proc {
  proc: ChildProcess;
  out: () => string;
  stop(): Promise<void>;
}

/** Spawns `node args...` (cwd: the repo) and waits until its output matches `ready`. */
export async function startNode(
  args: string[],
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<Proc & { match: RegExpExecArray }> {
  const p = await spawnNode(args, (out) => ready.exec(out), { cwd: ROOT, timeoutMs });
  return { proc: p.proc, match: p.ready, out: p.output, stop: p.stop };
}

/**
 * Spawns any command (not only node) and waits until `ready()` resolves true, polling every 20 ms; throws with
 * its output when it exits or `timeoutMs` passes first.
 */
export async function startProc(
  cmd: string,
  args: string[],
  opts: { cwd?: string; ready: (out: string) => boolean | Promise<boolean>; timeoutMs?: number },
): Promise<Proc> {
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd ?? ROOT });
  let out = "";
  proc.stdout?.on("data", (d) => {
    out += d;
  });
  proc.stderr?.on("data", (d) => {
    out += d;
  });
  proc.on("error", (e) => {
    out += `\nspawn error: ${e.message}`;
  });
  const exited = new Promise<void>((r) => proc.once("close", () => r()));
  const end = Date.now() + (opts.timeoutMs ?? 20_000);
  while (!(await opts.ready(out))) {
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > end) {
      if (proc.exitCode === null) proc.kill("SIGKILL");
      throw new Error(`${cmd} ${args.join(" ")} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    proc,
    out: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/** Resident set size of a live process in bytes (VmRSS from /proc), or NaN when it cannot be read. */
export function rssBytes(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system, all threads) a process has used, from /proc/PID/stat. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/**
 * Waits until `cpuMs()` (CPU time of what is watched, ms) grows by less than `underMs` over 300 ms, or `maxMs`
 * passed; returns the ms waited. The benches start a measure so once the servers' background work is done.
 */
export async function waitQuiet(cpuMs: () => number, underMs: number, maxMs: number): Promise<number> {
  const t0 = performance.now();
  let last = cpuMs();
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = cpuMs();
    if (now - last < underMs || performance.now() - t0 > maxMs) return performance.now() - t0;
    last = now;
  }
}

/** CPU time the hypervisor took from this machine since boot, all CPUs (Linux /proc/stat "steal"), in seconds. */
export function stealSeconds(): number | undefined {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/);
    const ticks = Number(cpu[8]);
    return Number.isFinite(ticks) ? ticks / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}
/**
 * CPU time a live process has run, all its threads, in milliseconds (Linux: the sum of /proc/PID/task/TID/schedstat,
 * in ns, so short operations are not rounded to 10 ms ticks); NaN when it cannot be read.
 */
export function processCpuMs(pid: number | undefined): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // A thread may end between the listing and the read: it is not counted.
      const text = readFileSafe(`/proc/${pid}/task/${tid}/schedstat`);
      if (text !== undefined) ns += Number(text.split(" ")[0]);
    }
    return ns / 1e6;
  } catch {
    return Number.NaN;
  }
}

function readFileSafe(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Linux reports /proc/stat in USER_HZ, 100 on every architecture node runs on. */
const USER_HZ = 100;

export interface Wasmlet extends Proc {
  routerUrl: string;
  controlUrl: string;
  dataDir: string;
}

/** `wasmlet serve` on ephemeral loopback ports; `nodeArgs` go to node itself (e.g. --trace-gc). */
export async function startWasmlet(
  dataDir?: string,
  extra: string[] = [],
  nodeArgs: string[] = [],
): Promise<Wasmlet> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "wasmlet-bench-"));
  const p = await startNode(
    [
      ...nodeArgs,
      join(ROOT, "bin/wasmlet.js"),
      "serve",
      "--data-dir",
      dir,
      "--listen",
      "127.0.0.1:0",
      "--control",
      "127.0.0.1:0",
      ...extra,
    ],
    /router on (http:\/\/\S+)[\s\S]*control API and OCI registry on (http:\/\/\S+)/,
  );
  return {
    ...p,
    routerUrl: p.match[1],
    controlUrl: p.match[2],
    dataDir: dir,
    async stop() {
      await p.stop();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function api(
  controlUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const r = await fetch(`${controlUrl}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A copy of a module with a different digest (an extra custom section), to measure first-time costs. */
export function uniqueVariant(module: Uint8Array, tag: string): Uint8Array {
  const name = Buffer.from("wasmlet-bench");
  const payload = Buffer.concat([Buffer.from([name.length]), name, Buffer.from(tag)]);
  if (payload.length > 127) throw new Error("tag too long");
  return Buffer.concat([module, Buffer.from([0, payload.length]), payload]);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
