// Starts the real `wasmlet serve` process and drives the real CLI, as a user would.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const BIN = join(ROOT, "bin/wasmlet.js");
export const example = (p: string) => join(ROOT, "examples", p);
export const fixture = (p: string) => join(ROOT, "test/fixtures", p);

export interface Server {
  routerUrl: string;
  controlUrl: string;
  dataDir: string;
  proc: ChildProcess;
  output: () => string;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** A node child process started by startNode. */
export interface NodeProc<T> {
  proc: ChildProcess;
  /** What `ready` returned once the process was up. */
  ready: T;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  /** Resolves once the process has exited. */
  exited: Promise<void>;
  /** SIGTERM unless it has already exited, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `node ...args`, collecting stdout and stderr, and polls `ready(output)` every 20 ms until it returns a
 * value; throws with the output when the process exits or `timeoutMs` passes first (then it is killed).
 */
export async function startNode<T>(
  args: string[],
  ready: (output: string) => T | null | undefined,
  opts: { cwd?: string; timeoutMs?: number; label?: string } = {},
): Promise<NodeProc<T>> {
  const label = opts.label ?? args.join(" ");
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd });
  let out = "";
  proc.stdout?.on("data", (d) => {
    out += d;
  });
  proc.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let value = ready(out);
  while (value === null || value === undefined) {
    if (proc.exitCode !== null) throw new Error(`${label} exited:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${label} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
    value = ready(out);
  }
  return {
    proc,
    ready: value,
    output: () => out,
    exited,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/** Starts `wasmlet serve` on ephemeral loopback ports; resolves once both listeners answer /healthz. */
export async function startServer(dataDir?: string, extraArgs: string[] = []): Promise<Server> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "wasmlet-e2e-"));
  const p = await startNode(
    [BIN, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", ...extraArgs],
    (out) => {
      const routerUrl = /router on (http:\/\/\S+)/.exec(out)?.[1];
      const controlUrl = /control API and OCI registry on (http:\/\/\S+)/.exec(out)?.[1];
      return routerUrl && controlUrl ? { routerUrl, controlUrl } : undefined;
    },
    { label: "wasmlet serve" },
  );
  const { routerUrl, controlUrl } = p.ready;
  for (const u of [routerUrl, controlUrl]) {
    const r = await fetch(`${u}/healthz`);
    if (r.status !== 200) throw new Error(`${u}/healthz answered ${r.status}`);
  }
  return {
    routerUrl,
    controlUrl,
    dataDir: dir,
    proc: p.proc,
    output: p.output,
    async kill() {
      p.proc.kill("SIGKILL");
      await p.exited;
    },
    async stop() {
      await p.stop();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `wasmlet serve --role router` with `args` (data dir, store, addresses…): its public port and its control port. */
export async function startRouterNode(dataDir: string, args: string[]): Promise<Server> {
  const p = await startNode(
    [BIN, "serve", "--data-dir", dataDir, ...args, "--role", "router"],
    (out) => /router on (http:\/\/\S+)[\s\S]*control port \(.*--role router\) on (http:\/\/\S+)/.exec(out),
    { label: "wasmlet serve --role router" },
  );
  return {
    routerUrl: p.ready[1],
    controlUrl: p.ready[2],
    dataDir,
    proc: p.proc,
    output: p.output,
    async kill() {
      p.proc.kill("SIGKILL");
      await p.exited;
    },
    stop: p.stop,
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `wasmlet ...args` against a server. */
export function cli(server: { controlUrl: string } | undefined, ...args: string[]): Promise<CliResult> {
  const full = server ? ["--server", server.controlUrl, ...args] : args;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...full], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => {
      stdout += d;
    });
    p.stderr.on("data", (d) => {
      stderr += d;
    });
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Asserts-friendly summary of a CLI run for failure messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/**
 * Calls `probe` until it returns something other than undefined, sleeping `intervalMs` between calls, and
 * returns that; throws `what` (default "timed out waiting") once `ms` have passed. A probe that throws ends
 * the wait with its error.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  opts: { ms?: number; intervalMs?: number; what?: () => string } = {},
): Promise<T> {
  const end = Date.now() + (opts.ms ?? 3000);
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(opts.what?.() ?? "timed out waiting");
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/**
 * `fn create --name <name> --code <code> ...fnArgs`, then `route create --name <name> --function <name>
 * ...route`; asserts that both exit 0.
 */
export async function deploy(
  server: { controlUrl: string },
  fn: { name: string; code: string; args?: string[]; route: string[] },
): Promise<void> {
  const c = await cli(server, "fn", "create", "--name", fn.name, "--code", fn.code, ...(fn.args ?? []));
  assert.equal(c.code, 0, show(c));
  const r = await cli(server, "route", "create", "--name", fn.name, "--function", fn.name, ...fn.route);
  assert.equal(r.code, 0, show(r));
}

/**
 * CPU time of a process's main thread in seconds (Linux: the first field of /proc/PID/task/PID/schedstat, in ns);
 * undefined elsewhere or when the process is gone.
 */
export function mainThreadCpuSeconds(pid: number | undefined): number | undefined {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]);
    return Number.isFinite(ns) ? ns / 1e9 : undefined;
  } catch {
    return undefined;
  }
}
