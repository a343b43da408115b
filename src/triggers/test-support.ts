// Helpers for tests of queue triggers (this folder's and the e2e ones): a real `nats-server -js` on loopback.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The ports tests may give NATS servers on this machine (shared with other test runs: probed, not assumed). */
const PORTS = { from: 18280, to: 18299 };

export interface NatsServer {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  output(): string;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** SIGTERM, then removes its store directory (unless `keepDir`). */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * Starts `nats-server -js` (Debian's binary) on the first free port of 18280-18299, with its JetStream store in a
 * temporary directory (or `dir`, to restart one); `auth` adds user/password or token authentication.
 */
export async function startNats(
  opts: { auth?: { user: string; pass: string } | { token: string }; dir?: string; port?: number } = {},
): Promise<NatsServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "wasmlet-nats-"));
  for (let port = opts.port ?? PORTS.from; port <= (opts.port ?? PORTS.to); port++) {
    if (!(await portFree(port))) continue;
    const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir];
    if (opts.auth && "token" in opts.auth) args.push("--auth", opts.auth.token);
    else if (opts.auth) args.push("--user", opts.auth.user, "--pass", opts.auth.pass);
    const proc = spawn("nats-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout?.on("data", (d) => {
      out += d;
    });
    proc.stderr?.on("data", (d) => {
      out += d;
    });
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    const end = Date.now() + 10_000;
    while (!out.includes("Server is ready") && proc.exitCode === null && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    if (!out.includes("Server is ready")) {
      proc.kill("SIGKILL");
      await exited;
      if (/address already in use/.test(out)) continue;
      throw new Error(`nats-server did not start:\n${out}`);
    }
    return {
      url: `nats://127.0.0.1:${port}`,
      port,
      dir,
      proc,
      output: () => out,
      async kill() {
        proc.kill("SIGKILL");
        await exited;
      },
      async stop(o = {}) {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill("SIGTERM");
          await exited;
        }
        if (!o.keepDir) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`no free port for nats-server in ${PORTS.from}-${PORTS.to}`);
}
