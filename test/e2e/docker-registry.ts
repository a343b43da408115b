// Starts Debian's docker-registry (distribution v2) on a free loopback port, with its own config.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DOCKER_REGISTRY = "/usr/bin/docker-registry";
export const SKOPEO = "/usr/bin/skopeo";

export interface DockerRegistry {
  host: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts the registry; `extraConfig` is appended to the YAML (e.g. an auth section). */
export async function startDockerRegistry(extraConfig = ""): Promise<DockerRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "docker-registry-"));
  const port = await freePort();
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: ${join(dir, "data")}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${extraConfig}`,
  );
  const proc: ChildProcess = spawn(DOCKER_REGISTRY, ["serve", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  proc.stderr?.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      if (r.status === 200 || r.status === 401) break;
    } catch {
      // not up yet
    }
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`docker-registry did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    async stop() {
      proc.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const hasDockerRegistry = () => existsSync(DOCKER_REGISTRY);
export const hasSkopeo = () => existsSync(SKOPEO);

/** Runs skopeo with TLS verification off (loopback registries speak plain HTTP). */
export function skopeo(...args: string[]): string {
  return execFileSync(SKOPEO, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
