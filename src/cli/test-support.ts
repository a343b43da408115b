// Helpers for this folder's tests: a real control port (API + embedded registry) and the real CLI binary.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { controlListener, createApiHandler } from "../api/index.js";
import { ApiClient } from "../client/index.js";
import { buildImage, ImageStore, RegistryClient, RegistryServer } from "../registry/index.js";
import type { InvocationRequest } from "../runtime/index.js";
import { SecretKey } from "../secrets/index.js";
import { MemoryStore } from "../store/index.js";
import { inspectModule } from "../wasm/index.js";

// The api folder's test helpers are not behind its door (index.ts); the CLI tests share them.
export { closedPort, commandModule } from "../api/test-support.js";

export const BIN = fileURLToPath(new URL("../../../bin/wasmlet.js", import.meta.url));

export interface TestServer {
  /** Base URL of the control port, for `--server`. */
  url: string;
  /** A client of that server, to check what the CLI did. */
  api: ApiClient;
  /** Temp dir removed on close. */
  dir: string;
  /** Writes a file in the temp dir and returns its path. */
  file(name: string, data: Uint8Array | string): Promise<string>;
  /** Stops the server and removes the temp dir. */
  close(): Promise<void>;
}

/** What the stand-in functions answer: the request they saw. */
function echoOf(req: InvocationRequest) {
  return {
    method: req.method,
    path: req.path,
    query: req.query,
    headers: req.headers,
    body: Buffer.from(req.body).toString(),
  };
}

/**
 * A control port as serve builds it. Functions "run" by echoing the request as JSON with the status from their
 * env STATUS, and each run is logged to the store 150 ms later, as serve's log buffer does.
 */
export async function startServer(token?: string): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), "wasmlet-cli-"));
  const images = new ImageStore({ root: join(dir, "registry") });
  const registryServer = new RegistryServer({ store: images });
  const store = new MemoryStore();
  let host = "";
  const handler = createApiHandler({
    store,
    get registryHost() {
      return host;
    },
    registry: new RegistryClient(),
    buildImage,
    inspectModule,
    token,
    secretKey: new SecretKey(join(dir, "secret.key"), { create: true }),
    // `fn test` of a command function: stdout the request as JSON (as invoke), exit code from env EXIT, a
    // trap's message when env TRAP is set, one stderr line, and "<collect>/sub/out.txt" when asked to collect.
    run: async (fn, req, collect) => {
      const exitCode = Number(fn.env.EXIT ?? 0);
      const files = new Map<string, Uint8Array>();
      if (collect !== undefined)
        files.set(`${collect === "/" ? "" : collect}/sub/out.txt`, Buffer.from("written"));
      return {
        status: exitCode === 0 && !fn.env.TRAP ? 200 : 500,
        exitCode: fn.env.TRAP ? 1 : exitCode,
        stdout: Buffer.from(JSON.stringify(echoOf(req))),
        stderr: Buffer.from(`stderr of ${fn.name}\n`),
        files,
        ...(fn.env.TRAP ? { error: `function ${fn.name} failed: trap: unreachable` } : {}),
      };
    },
    invoke: async (fn, req) => {
      const status = Number(fn.env.STATUS ?? 200);
      // Like serve's log buffer, the entry lands a little after the response.
      const entry = [
        {
          function: fn.name,
          time: "2024-05-01T10:00:00.000Z",
          status,
          durationMs: 3,
          digest: fn.current.digest,
          error: status === 200 ? undefined : "exit status 1",
          stderr: `ran ${req.method} ${req.path}\n`,
        },
      ];
      setTimeout(() => void store.appendLogs(entry).catch(() => {}), 150);
      return {
        status,
        headers: [["content-type", "application/json"]],
        body: Buffer.from(JSON.stringify(echoOf(req))),
      };
    },
  });
  const server = createServer(controlListener({ fronts: [registryServer], api: () => handler }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `http://${host}`;
  return {
    url,
    dir,
    api: new ApiClient({ server: url, token }),
    async file(name, data) {
      const p = join(dir, name);
      await writeFile(p, data);
      return p;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await registryServer.close();
      await images.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** What one CLI run did. */
export interface CliResult {
  /** Exit status. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/wasmlet.js ...args` to completion. */
export function wasmlet(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const fullEnv: NodeJS.ProcessEnv = { ...process.env };
  delete fullEnv.WASMLET_SERVER;
  delete fullEnv.WASMLET_TOKEN;
  Object.assign(fullEnv, env);
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: fullEnv, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `wasmlet ...args` and leaves it running (for `fn logs -f`). */
export function wasmletLive(args: string[]) {
  return spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}
