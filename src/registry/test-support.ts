import { randomBytes } from "node:crypto";
// Helpers shared by this folder's tests and by test/e2e and bench (not exported from index.ts).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Digest, sha256Digest } from "../core/index.js";
import { customSection } from "../core/test-support.js";
import { ImageStore, type ImageStoreOptions } from "./image-store.js";
import { RegistryServer } from "./server.js";

/** A valid, empty wasm module, with a custom section so that each `tag` gives different bytes. */
export function tinyWasm(tag = ""): Uint8Array {
  const name = Buffer.from("wasmlet");
  const payload = Buffer.from(tag);
  const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
  if (body.length > 127) throw new Error("tinyWasm: tag too long for a one-byte LEB128 size");
  return new Uint8Array(
    Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, body.length]), body]),
  );
}

/** Pushes a blob to a running registry monolithically (POST ?digest=), asserting 201; returns its digest. */
export async function pushBlob(url: string, repo: string, bytes: Uint8Array<ArrayBuffer>): Promise<Digest> {
  const d = sha256Digest(bytes);
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${d}`, { method: "POST", body: bytes });
  assert.equal(res.status, 201);
  return d;
}

/** A module of `size` bytes or a little more: a custom section of random bytes (so each call gives new layers). */
export function bigWasm(size: number): Uint8Array {
  return new Uint8Array(
    Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), customSection("x", randomBytes(size))]),
  );
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>`, as used in image references. */
  host: string;
  url: string;
  root: string;
  /** The storage behind the server. */
  store: ImageStore;
  /** The /v2 front. */
  registry: RegistryServer;
  server: Server;
  close(): Promise<void>;
}

/** Starts the embedded registry in a real HTTP server on an ephemeral loopback port, data in a temp dir. */
export async function startRegistry(
  opts: Partial<ImageStoreOptions> & { token?: string; referrersPageBytes?: number } = {},
  wrap?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void,
): Promise<RunningRegistry> {
  const root = await mkdtemp(join(tmpdir(), "wasmlet-registry-"));
  const { token, referrersPageBytes, ...storeOpts } = opts;
  const store = new ImageStore({ root, sweepIntervalMs: 0, ...storeOpts });
  const registry = new RegistryServer({ store, token, referrersPageBytes });
  const server = createServer((req, res) => {
    const next = () => {
      if (!registry.handle(req, res)) {
        res.writeHead(404);
        res.end("not a registry path");
      }
    };
    if (wrap) wrap(req, res, next);
    else next();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    root,
    store,
    registry,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await registry.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Debian's docker-registry (distribution v2), for interoperability tests and benchmarks. */
export const DOCKER_REGISTRY = "/usr/bin/docker-registry";

/** A loopback TCP port that was free a moment ago (bound, then released). */
export async function freePort(): Promise<number> {
  const srv = createTcpServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", resolve);
  });
  const port = (srv.address() as AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export interface DockerRegistry {
  /** `127.0.0.1:<port>`, as used in image references. */
  host: string;
  /** The docker-registry process (the benchmark reads its CPU time). */
  pid: number | undefined;
  /** Stops the process (waits for it to exit) and removes its storage. */
  stop(): Promise<void>;
}

/**
 * Starts `docker-registry serve` on a free loopback port with storage in a temp dir and polls /v2/ until it
 * answers (15 s at most). With `htpasswd` (the file's contents) it requires basic auth (realm wasmlet-test).
 */
export async function startDockerRegistry(htpasswd?: string): Promise<DockerRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "wasmlet-docker-registry-"));
  const port = await freePort();
  let config = `version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: ${join(dir, "data")}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
`;
  if (htpasswd) {
    await writeFile(join(dir, "htpasswd"), htpasswd);
    config += `auth:\n  htpasswd:\n    realm: wasmlet-test\n    path: ${join(dir, "htpasswd")}\n`;
  }
  await writeFile(join(dir, "config.yml"), config);
  const proc = spawn(DOCKER_REGISTRY, ["serve", join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (c) => {
    stderr += c;
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`docker-registry did not answer on ${host}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    pid: proc.pid,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
