// Starts the real `wasmlet serve` process and drives the real CLI, as a user would.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

/** Starts `wasmlet serve` on ephemeral loopback ports; resolves once both listeners answer /healthz. */
export async function startServer(dataDir?: string, extraArgs: string[] = []): Promise<Server> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "wasmlet-e2e-"));
  const proc = spawn(
    process.execPath,
    [BIN, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout?.on("data", (d) => {
    out += d;
  });
  proc.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const deadline = Date.now() + 20_000;
  let routerUrl = "";
  let controlUrl = "";
  while (Date.now() < deadline) {
    routerUrl = /router on (http:\/\/\S+)/.exec(out)?.[1] ?? "";
    controlUrl = /control API and OCI registry on (http:\/\/\S+)/.exec(out)?.[1] ?? "";
    if (routerUrl && controlUrl) break;
    if (proc.exitCode !== null) throw new Error(`wasmlet serve exited: ${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!routerUrl || !controlUrl) throw new Error(`wasmlet serve did not start: ${out}`);
  for (const u of [routerUrl, controlUrl]) {
    const r = await fetch(`${u}/healthz`);
    if (r.status !== 200) throw new Error(`${u}/healthz answered ${r.status}`);
  }
  return {
    routerUrl,
    controlUrl,
    dataDir: dir,
    proc,
    output: () => out,
    async kill() {
      proc.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
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
