import { mkdirSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { join, resolve } from "node:path";
import { createApiHandler, registryRoots } from "../api/index.js";
import { BuildQueue } from "../build/index.js";
import { DEFAULT_HTTP_LIMITS, type Digest, type HttpLimits, WasmletError } from "../core/index.js";
import {
  buildImage,
  type ImageBundle,
  parseReference,
  type RegistryAuth,
  RegistryClient,
  RegistryServer,
} from "../registry/index.js";
import type { Router } from "../router/index.js";
import { openStore, type Store } from "../store/index.js";
import { type NatsConfig, Triggers } from "../triggers/index.js";
import { inspectModule } from "../wasm/index.js";
import { formatHostPort, type HostPort, isLoopback } from "./address.js";
import { defaultBusyPollUs } from "./busy-poll.js";
import { createDataPlane, createRouterServer } from "./data-plane.js";
import { createBoundedServer } from "./http-limits.js";
import { closeServer, listen } from "./listen.js";
import { tuneMalloc } from "./malloc-tune.js";
import { type RouterCluster, startRouterCluster } from "./router-cluster.js";

export interface ServeConfig {
  dataDir: string;
  /** Public port: the router. */
  listen: HostPort;
  /** Control port: API + embedded registry. */
  control: HostPort;
  /** Bearer token for the control port; required when it is not on loopback. */
  token?: string;
  /** Router processes sharing the public port (`--workers`); 1 = the router runs in this process. */
  workers?: number;
  /**
   * Microseconds the router's request thread stays awake after a request while requests keep coming
   * (`--busy-poll-us`; 0: never). Default: defaultBusyPollUs(workers).
   */
  busyPollUs?: number;
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
  /** Timeouts and caps of both listeners (the output buffer is the router's); defaults: DEFAULT_HTTP_LIMITS. */
  http?: Partial<HttpLimits>;
  /** The NATS server of message-queue triggers (`--nats`); absent: they show state "error". */
  nats?: NatsConfig;
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

const SERVE_POLL_MS = 1000;

/** The composition root of `wasmlet serve`: opens the store, wires registry, runtime, router and API, listens. */
export async function serve(config: ServeConfig): Promise<Serving> {
  const log = config.log ?? ((line: string) => console.error(line));
  if (!tuneMalloc())
    log(
      "wasmlet: the malloc tuning addon is not built (npm install builds it): freed memory may stay with the process",
    );
  if (!isLoopback(config.control.host) && !config.token)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--control ${formatHostPort(config.control)} is not a loopback address: give a token (--token-file) to protect it`,
    );
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Every write to the change feed goes through this process (API, builds), which tells its own watchers at
  // once: polling only catches writes from outside, so once a second is enough and keeps reads off the
  // request thread.
  const store = await openStore({ kind: "sqlite", dataDir, pollMs: SERVE_POLL_MS });
  const registryServer = new RegistryServer({
    root: join(dataDir, "registry"),
    gcGraceMs: config.gcGraceMs,
    token: config.token,
  });
  // Filled in once the control port listens: the server's own registry needs its token when it has one.
  let ownRegistry = "";
  const registry = new RegistryClient({
    auth: (host) =>
      host === ownRegistry && config.token ? { token: config.token } : config.registryAuth?.[host],
  });
  const http: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...config.http };
  const plane = createDataPlane({
    store,
    registryServer,
    registry,
    log,
    dataDir,
    outputBufferBytes: http.outputBufferBytes,
  });
  const { runtime, router } = plane;
  // Timers and queue triggers run here, in the control process only: with --workers N each event still starts
  // one invocation. They invoke through this process's runtime, under the same limits and logs as HTTP.
  const triggers = new Triggers({
    store,
    invoke: (fn, req) => runtime.invoke(fn, req),
    log,
    nats: config.nats,
  });

  // The control port first: the router pulls images from the embedded registry on it.
  let api: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) | undefined;
  const controlServer = createBoundedServer(http, (req, res) => {
    // The registry checks the token on /v2 itself (and answers the token flow OCI clients follow).
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
  // Images for this server's own registry are written straight into its storage (no HTTP round trips).
  const apiRegistry = {
    push: (ref: string, bundle: ImageBundle) => {
      const r = parseReference(ref);
      return r.registry === registryHost && r.tag && !r.digest
        ? registryServer.pushLocal(r.repository, r.tag, bundle)
        : registry.push(ref, bundle);
    },
    resolve: (ref: string) => registry.resolve(ref),
    pull: (ref: string) => registry.pull(ref),
  };
  api = createApiHandler({
    store,
    registryHost,
    registry: apiRegistry,
    buildImage,
    inspectModule,
    invoke: (fn, req) => runtime.invoke(fn, req),
    onDeploy: (fn) => runtime.prepare(fn),
    triggerStatus: (kind, name) => triggers.status(kind, name),
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

  // One process serves the public port itself; with --workers N, N router processes share it.
  let routerServer: Server | undefined;
  let routers: RouterCluster | undefined;
  let unwatchForRouters: (() => void) | undefined;
  let routerAddress: string;
  const busyPollUs = config.busyPollUs ?? defaultBusyPollUs(config.workers ?? 1);
  if ((config.workers ?? 1) > 1) {
    routers = await startRouterCluster(
      config.workers ?? 1,
      {
        dataDir,
        busyPollUs,
        http,
        listen: config.listen,
        registryAuth: config.registryAuth,
        ownRegistry: registryHost,
        token: config.token,
      },
      log,
    );
    routerAddress = routers.address;
    const cluster = routers;
    unwatchForRouters = store.watch(() => cluster.notify());
  } else {
    await router.start();
    routerServer = createRouterServer(plane, busyPollUs, http);
    routerAddress = formatHostPort(await listen(routerServer, config.listen));
  }

  await triggers.start();

  const routerUrl = `http://${routerAddress}`;
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
      await triggers.stop();
      shutdown.abort();
      unwatchForRouters?.();
      await Promise.all([
        routerServer ? closeServer(routerServer) : routers?.close(),
        closeServer(controlServer),
      ]);
      await plane.close();
      await registryServer.close();
      await store.close();
    },
  };
}
