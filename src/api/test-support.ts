// Helpers for this folder's tests (not exported from index.ts): a real control port with the embedded registry.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FunctionRecord } from "../core/index.js";
import { customSection, leb128, section, sized } from "../core/test-support.js";
import { buildImage, ImageStore, RegistryClient, RegistryServer } from "../registry/index.js";
import type { InvocationRequest, InvocationResponse, RunReport } from "../runtime/index.js";
import { SecretKey } from "../secrets/index.js";
import { MemoryStore, type Store } from "../store/index.js";
import { inspectModule } from "../wasm/index.js";
import { controlListener } from "./control.js";
import type { ApiDeps } from "./deps.js";
import { createApiHandler } from "./handler.js";

// The wasm folder's WAT assembler (a test helper, not behind its door), for modules beyond the byte builders below.
export { wat } from "../wasm/test-support.js";

/**
 * A WASI command the inspector accepts: functions of type () -> () with `bodies` (each its locals, then its
 * instructions; the first is `_start`), exports `_start` and `memory` (`pages` of it), then `custom` (a custom
 * section) to make it distinct or large.
 */
function wasiCommand(bodies: Uint8Array[], pages: number, custom: Uint8Array): Uint8Array {
  const exports = [
    0x02,
    0x06,
    ...Buffer.from("_start"),
    0x00,
    0x00,
    0x06,
    ...Buffer.from("memory"),
    0x02,
    0x00,
  ];
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
      section(0x01, [0x01, 0x60, 0x00, 0x00]), // type: () -> ()
      section(0x03, [...leb128(bodies.length), ...new Array<number>(bodies.length).fill(0)]), // all of type 0
      section(0x05, [0x01, 0x00, ...leb128(pages)]), // one memory
      section(0x07, exports),
      section(0x0a, Buffer.concat([Buffer.from(leb128(bodies.length)), ...bodies.map(sized)])),
      custom,
    ]),
  );
}

/**
 * The smallest WASI command the inspector accepts: `_start` (an empty function) and one page of `memory`.
 * `tag` goes into a custom section so that each tag gives a different module (and image digest).
 */
export function commandModule(tag = ""): Uint8Array {
  return wasiCommand([Uint8Array.of(0x00, 0x0b)], 1, customSection("t", Buffer.from(tag)));
}

/**
 * A WASI command of 4 MiB and more (a large module: the API checks it by compiling it lazily, capped): `_start`'s
 * body as given (locals, then instructions), `pages` of memory and a 4 MiB custom section.
 */
export function largeCommand(body: number[], pages = 1): Uint8Array {
  return wasiCommand([Uint8Array.from(body)], pages, customSection("x", new Uint8Array(4 * 1024 * 1024)));
}

/**
 * A WASI command of 4 MiB and more made of code: `count` functions of ~`bodyBytes` each (`_start` is the first),
 * all valid but function `bad`, whose body (`i32.add` on an empty stack) V8 refuses. Its code section spans many
 * chunks of an upload, so the check must find `bad` wherever the upload's pieces put it.
 */
export function largeCommandInvalidAt(bad: number, count = 1500, bodyBytes = 3000): Uint8Array {
  // i32.const 0, drop, over and over
  const valid = Uint8Array.from([
    0x00,
    ...new Array<number>(Math.floor(bodyBytes / 3)).fill(0).flatMap(() => [0x41, 0x00, 0x1a]),
    0x0b,
  ]);
  const invalid = Uint8Array.of(0x00, 0x6a, 0x0b);
  const bodies = Array.from({ length: count }, (_, i) => (i === bad ? invalid : valid));
  return wasiCommand(bodies, 1, new Uint8Array(0));
}

/** A `multipart/form-data` body of `parts` (name, content) in order, as curl -F and the CLI lay one out. */
export function multipartBody(boundary: string, parts: [string, string | Uint8Array][]): Buffer {
  const out: Buffer[] = [];
  for (const [name, content] of parts) {
    out.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`));
    out.push(Buffer.from(content));
    out.push(Buffer.from("\r\n"));
  }
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

/** A module importing `env.foo`: valid wasm, but not something wasmlet can run. */
export function envImportModule(): Uint8Array {
  return new Uint8Array(
    Buffer.from([
      0x00,
      0x61,
      0x73,
      0x6d,
      0x01,
      0x00,
      0x00,
      0x00,
      0x01,
      0x04,
      0x01,
      0x60,
      0x00,
      0x00,
      0x02,
      0x0b,
      0x01,
      0x03,
      ...Buffer.from("env"),
      0x03,
      ...Buffer.from("foo"),
      0x00,
      0x00,
    ]),
  );
}

/**
 * Stands in for the runtime: "runs" a function by echoing the request as JSON, with the status taken from the
 * function's env STATUS, and logs the invocation to the store as the runtime does.
 */
/**
 * A stand-in for Runtime.run: exit code from env EXIT (default 0; a plain exit sets no `error`, as the runtime's),
 * stdout the echo JSON, stderr a line, and one file "<collect>/out.txt" holding "written" when asked to collect.
 */
export function echoRun(store: Store) {
  const invoke = echoInvoke(store);
  return async (fn: FunctionRecord, req: InvocationRequest, collect?: string): Promise<RunReport> => {
    const res = await invoke(fn, req);
    const exitCode = Number(fn.env.EXIT ?? 0);
    const report: RunReport = {
      status: exitCode === 0 ? res.status : 500,
      exitCode,
      stdout: res.body,
      stderr: Buffer.from(`stderr of ${fn.name}\n`),
      files: new Map(collect === undefined ? [] : [[`${collect}/out.txt`, Buffer.from("written")]]),
    };
    return report;
  };
}

export function echoInvoke(store: Store) {
  return async (fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse> => {
    const status = Number(fn.env.STATUS ?? 200);
    await store.appendLogs([
      {
        function: fn.name,
        time: new Date().toISOString(),
        status,
        durationMs: 1,
        digest: fn.current.digest,
        error: status >= 400 ? "exit status 1" : undefined,
        stderr: `echo ${req.method} ${req.path}\nsecond line`,
      },
    ]);
    const body = JSON.stringify({
      fn: fn.name,
      version: fn.current.version,
      method: req.method,
      path: req.path,
      url: req.url,
      query: req.query,
      headers: req.headers,
      body: Buffer.from(req.body).toString("utf8"),
    });
    return {
      status,
      headers: [
        ["content-type", "application/json"],
        ["x-echo", "1"],
      ],
      body: Buffer.from(body),
    };
  };
}

export interface ControlPort {
  /** `http://127.0.0.1:<port>`: API and registry. */
  url: string;
  /** `127.0.0.1:<port>`, as in image references. */
  host: string;
  /** The store behind the API, for checks the API does not expose. */
  store: Store;
  /** A client of the embedded registry. */
  registry: RegistryClient;
  /** Every record onDeploy was called with, in order. */
  deployed: FunctionRecord[];
  /** The key secrets are sealed with (created in the temporary directory on first use). */
  secretKey: SecretKey;
  /** How many times the API asked the runtime to boot a worker (ApiDeps.prestartWorkers). */
  readonly prestarts: number;
  /** Stops the server and removes the registry's data. */
  close(): Promise<void>;
}

/** The control port as serve builds it: the embedded registry under /v2 and the API, on 127.0.0.1:<ephemeral>. */
export async function startControlPort(opts: { token?: string } = {}): Promise<ControlPort> {
  const root = await mkdtemp(join(tmpdir(), "wasmlet-api-"));
  const images = new ImageStore({ root });
  const registryServer = new RegistryServer({ store: images });
  const store = new MemoryStore();
  const registry = new RegistryClient();
  const secretKey = new SecretKey(join(root, "secret.key"), { create: true });
  const deployed: FunctionRecord[] = [];
  let host = "";
  let prestarts = 0;
  const deps: ApiDeps = {
    store,
    get registryHost() {
      return host;
    },
    registry,
    buildImage,
    inspectModule,
    invoke: echoInvoke(store),
    run: echoRun(store),
    onDeploy: async (fn) => {
      deployed.push(fn);
    },
    prestartWorkers: () => {
      prestarts++;
    },
    token: opts.token,
    secretKey,
  };
  const api = createApiHandler(deps);
  const server: Server = createServer(controlListener({ fronts: [registryServer], api: () => api }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    store,
    registry,
    deployed,
    secretKey,
    get prestarts() {
      return prestarts;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await registryServer.close();
      await images.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Raw request, for asserting on statuses and envelopes exactly as a client sees them. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  json: { error?: { code: string; message: string } } & Record<string, unknown>;
}> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

export const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
