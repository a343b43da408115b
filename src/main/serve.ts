import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { createApiHandler, registryRoots } from "../api/index.js";
import { BuildQueue } from "../build/index.js";
import { type Digest, type FunctionRecord, WasmletError } from "../core/index.js";
import {
  buildImage,
  parseReference,
  type RegistryAuth,
  RegistryClient,
  RegistryServer,
} from "../registry/index.js";
import { Router } from "../router/index.js";
import { HybridExecutor, Runtime } from "../runtime/index.js";
import { openStore, type Store } from "../store/index.js";
import { inspectModule } from "../wasm/index.js";
import { formatHostPort, type HostPort, isLoopback } from "./address.js";
import { LogBuffer } from "./log-buffer.js";

export interface ServeConfig {
  dataDir: string;
  /** Public port: the router. */
  listen: HostPort;
  /** Control port: API + embedded registry. */
  control: HostPort;
  /** Bearer token for the control port; required when it is not on loopback. */
  token?: string;
  /** Logs through this function (default: console.error). */
  log?: (line: string) => void;
  /** Credentials for other registries by `host:port` (`serve --registry-auth FILE`), for `fn create --image`. */
  registryAuth?: Record<string, RegistryAuth>;
  /** `host:port` clusters pull the embedded registry's images from (`--public-registry`); default: the control address. */
  publicRegistry?: string;
  /** How often the embedded registry is garbage-collected, in ms; 0 disables it. Default 10 minutes. */
  gcIntervalMs?: number;
  /** Unreferenced blobs younger than this survive gc (pushes in progress), in ms. Default 1 hour. */
  gcGraceMs?: number;
}

export interface Serving {
  routerUrl: string;
  controlUrl: string;
  /** `host:port` under which function images are pushed to the embedded registry. */
  registryHost: string;
  store: Store;
  router: Router;
  close(): Promise<void>;
}

/** The composition root of `wasmlet serve`: opens the store, wires registry, runtime, router and API, listens. */
export async function serve(config: ServeConfig): Promise<Serving> {
  const log = config.log ?? ((line: string) => console.error(line));
  if (!isLoopback(config.control.host) && !config.token)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--control ${formatHostPort(config.control)} is not a loopback address: give a token (--token-file) to protect it`,
    );
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const store = await openStore({ kind: "sqlite", dataDir });
  const registryServer = new RegistryServer({ root: join(dataDir, "registry"), gcGraceMs: config.gcGraceMs });
  // Filled in once the control port listens: the server's own registry needs its token when it has one.
  let ownRegistry = "";
  const registry = new RegistryClient({
    auth: (host) =>
      host === ownRegistry && config.token ? { token: config.token } : config.registryAuth?.[host],
  });
  const logs = new LogBuffer(store, 100, 500, (e) => log(`wasmlet: cannot store logs: ${String(e)}`));
  const executor = new HybridExecutor();
  const runtime = new Runtime({
    executor,
    // Images pushed here are read from disk by digest; others are pulled from their registry.
    loadImage: async (fn) =>
      (await registryServer.loadLocal(fn.current.digest)) ?? registry.pull(pinnedRef(fn)),
    onLog: logs.add,
  });
  const router = new Router({
    store,
    invoker: runtime,
    onPrepareError: (fn, e) =>
      log(`wasmlet: cannot prepare function ${fn.name}: ${e instanceof Error ? e.message : e}`),
  });

  // The control port first: the router pulls images from the embedded registry on it.
  let api: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) | undefined;
  const controlServer = createServer((req, res) => {
    if (
      req.url?.startsWith("/v2") &&
      config.token &&
      req.headers.authorization !== `Bearer ${config.token}`
    ) {
      res.writeHead(401, {
        "content-type": "application/json",
        "www-authenticate": 'Bearer realm="wasmlet"',
      });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "a bearer token is required" }] }));
      return;
    }
    if (registryServer.handle(req, res)) return;
    const handler = api;
    if (!handler) {
      res.writeHead(503).end();
      return;
    }
    handler(req, res).then(
      (handled) => {
        if (!handled && !res.headersSent) {
          res.writeHead(404, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              error: { code: "NOT_FOUND", message: `no such endpoint: ${req.method} ${req.url}` },
            }),
          );
        }
      },
      (e) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "INTERNAL", message: String(e) } }));
      },
    );
  });
  const control = await listen(controlServer, config.control);
  // Aborted on close: kills running builds, whose packages stay "running" and are requeued on the next start.
  const shutdown = new AbortController();
  const registryHost = formatHostPort(control);
  ownRegistry = registryHost;
  const collectGarbage = (roots: Digest[]) => registryServer.gc({ roots });
  api = createApiHandler({
    store,
    registryHost,
    registry,
    buildImage,
    inspectModule,
    invoke: (fn, req) => runtime.invoke(fn, req),
    onDeploy: (fn) => runtime.prepare(fn),
    token: config.token,
    collectGarbage,
    publicRegistry: config.publicRegistry,
    // One build at a time: a compiler takes a whole core and the other serves requests.
    buildQueue: new BuildQueue({ concurrency: 1, maxQueued: 16 }),
    signal: shutdown.signal,
  });

  // Periodic gc: the roots are read from the store at each pass, so a function created meanwhile is kept.
  const gcEvery = config.gcIntervalMs ?? 10 * 60 * 1000;
  const gcTimer =
    gcEvery > 0
      ? setInterval(() => {
          registryRoots(store)
            .then(collectGarbage)
            .then(
              (r) => {
                if (r.deletedBlobs > 0)
                  log(`wasmlet: registry gc deleted ${r.deletedBlobs} blobs (${r.freedBytes} bytes)`);
              },
              (e) => log(`wasmlet: registry gc failed: ${e instanceof Error ? e.message : e}`),
            );
        }, gcEvery).unref()
      : undefined;

  await router.start();
  const routerServer = createServer(router.handle);
  routerServer.keepAliveTimeout = 65_000;
  const pub = await listen(routerServer, config.listen);

  const routerUrl = `http://${formatHostPort(pub)}`;
  const controlUrl = `http://${registryHost}`;
  let closed = false;
  return {
    routerUrl,
    controlUrl,
    registryHost,
    store,
    router,
    async close() {
      if (closed) return;
      closed = true;
      if (gcTimer) clearInterval(gcTimer);
      router.stop();
      shutdown.abort();
      await Promise.all([closeServer(routerServer), closeServer(controlServer)]);
      await logs.flush();
      await executor.close();
      await registryServer.close();
      await store.close();
    },
  };
}

/** The reference the runtime pulls: the function's repository, pinned to its digest (never a tag). */
function pinnedRef(fn: FunctionRecord): string {
  const r = parseReference(fn.current.image);
  return `${r.registry}/${r.repository}@${fn.current.digest}`;
}

function listen(server: Server, at: HostPort): Promise<HostPort> {
  return new Promise((resolveListen, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new WasmletError(
          "UNAVAILABLE",
          e.code === "EADDRINUSE"
            ? `cannot listen on ${formatHostPort(at)}: the address is in use (is another wasmlet running? choose another with --listen/--control)`
            : `cannot listen on ${formatHostPort(at)}: ${e.message}`,
        ),
      ),
    );
    server.listen(at.port, at.host, () => {
      const a = server.address() as AddressInfo;
      resolveListen({ host: at.host, port: a.port });
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
}
