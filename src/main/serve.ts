import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import type { Server } from "node:http";
import { hostname, networkInterfaces } from "node:os";
import { join, resolve } from "node:path";
import {
  type ApiHandler,
  type ControlFront,
  controlListener,
  createApiHandler,
  createRecordsHandler,
  registryRoots,
} from "../api/index.js";
import { BuildQueue } from "../build/index.js";
import { CanaryController } from "../canary/index.js";
import {
  DEFAULT_HELPER_NICE,
  DEFAULT_HTTP_LIMITS,
  type Digest,
  type HttpLimits,
  type ServeRole,
  WasmletError,
} from "../core/index.js";
import { sendError, sendJson, setBodyPrefault } from "../http/index.js";
import {
  buildImage,
  ImageRegistries,
  ImageStore,
  isLoopbackRegistry,
  parseRegistryLocation,
  type RegistryAuth,
  RegistryClient,
  RegistryServer,
  setLayerHasher,
} from "../registry/index.js";
import type { Router } from "../router/index.js";
import { lowerV8Threads, sumCounts } from "../runtime/index.js";
import { SECRET_KEY_FILE, SecretKey } from "../secrets/index.js";
import {
  type EtcdConnection,
  EtcdLeadership,
  EtcdMembership,
  EtcdStore,
  listNodes,
  openStore,
  type Store,
} from "../store/index.js";
import { type NatsConfig, Triggers } from "../triggers/index.js";
import { TrafficSampler, uiFront } from "../ui/index.js";
import { inspectModule, startCompileThread } from "../wasm/index.js";
import { advertisedHostPort, formatHostPort, type HostPort, isLoopback, parseHostPort } from "./address.js";
import { type BusyPoll, defaultBusyPollUs } from "./busy-poll.js";
import { pinRouterThreads } from "./cpu-affinity.js";
import { createDataPlane, createRouterServer } from "./data-plane.js";
import { Drain, type DrainReport } from "./drain.js";
import { externalPushes, externalRegistryFront } from "./external-registry.js";
import { createBoundedServer } from "./http-limits.js";
import { listen } from "./listen.js";
import { load as loadAddon, nativeLayerHasher, tuneMalloc } from "./malloc-tune.js";
import { type MetricsJson, metricsFront, ProcessMetrics } from "./metrics.js";
import { nodesFront } from "./nodes-front.js";
import { shortenRequestSlice } from "./request-slice.js";
import { type RouterCluster, startRouterCluster } from "./router-cluster.js";

/** `--public-registry` for the embedded registry: a bare host[:port], as image references start. */
function embeddedRegistryHost(value: string): string {
  const at = parseRegistryLocation(value, "--public-registry");
  if (at.prefix !== "")
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--public-registry: "${value}" has a path: the embedded registry is named by host[:port] alone`,
    );
  return at.host;
}

export interface ServeConfig {
  /** This node's directory: the SQLite store (or, with `etcd`, its invocation records and logs) and the registry. */
  dataDir: string;
  /** Keep resources and the change feed in this etcd cluster (`--store etcd://…`) instead of SQLite. */
  etcd?: EtcdConnection;
  /**
   * What this node runs (`--role`; needs `etcd` unless "all"): "control" the API, the embedded registry and the
   * cluster's duties, no public listener; "router" the public listener only (its control port answers /healthz,
   * /metrics and its invocation records and logs), functions' images pulled by digest and cached; "all" (default) both.
   */
  role?: ServeRole;
  /**
   * `[http(s)://]host[:port][/prefix]` (`--registry`). On a node with the control role: the external registry
   * every function and package image is pushed to (under the prefix) and pinned by digest, instead of the
   * embedded one, which is then off (`/v2` answers 404 naming this registry, no gc). On a router node: the
   * registry function images are pulled from — with `registryCredentials` when given, else with `token` (the
   * control plane's embedded registry, e.g. its Service).
   */
  registry?: string;
  /**
   * Credentials for `registry` (`--registry-username` and password): Basic, or sent to the token service of a
   * Bearer challenge. Default: the `registryAuth` entry of its host; else none (a router node: the token).
   */
  registryCredentials?: RegistryAuth;
  /** Public port: the router. */
  listen: HostPort;
  /** Control port: API + embedded registry. */
  control: HostPort;
  /** Bearer token for the control port; required when it is not on loopback. */
  token?: string;
  /**
   * The key file secrets are sealed with (`--secret-key-file`): must exist. Default: `secret.key` in the data
   * directory, created (mode 0600) when the first secret is stored.
   */
  secretKeyFile?: string;
  /** Router processes sharing the public port (`--workers`); 1 = the router runs in this process. */
  workers?: number;
  /**
   * Microseconds the router's request thread stays awake after a request while requests keep coming
   * (`--busy-poll-us`; 0: never). Default: defaultBusyPollUs(workers).
   */
  busyPollUs?: number;
  /** `--busy-poll-yield`: share (0–1) of run-queue wait past which the spin gives its core up; 0 (default): never. */
  busyPollYield?: number;
  /**
   * `auto`: each router's request thread runs alone on a CPU of its own and the process's other threads on the
   * rest (see src/runtime/thread-affinity.ts); `off` (default): the scheduler places every thread.
   */
  cpuAffinity?: "auto" | "off";
  /** The request threads' scheduler slice in µs (`--request-slice-us`, e.g. 100); 0 or absent: the kernel's default. */
  requestSliceUs?: number;
  /**
   * Nice value for V8's threads in every process of this server (`--helper-nice`; see
   * runtime/thread-priority.ts lowerV8Threads). Default DEFAULT_HELPER_NICE (0: left as they are).
   */
  helperNice?: number;
  /** Logs through this function (default: console.error). */
  log?: (line: string) => void;
  /** Credentials for other registries by `host:port` (`serve --registry-auth FILE`), for `fn create --image`. */
  registryAuth?: Record<string, RegistryAuth>;
  /** `host:port` clusters pull function images from (`--public-registry`, for `fn manifest`): the embedded or the
   * external registry as the cluster's nodes reach it. Default: the control address, or the external registry's. */
  publicRegistry?: string;
  /**
   * The host other nodes reach this one at (`--advertise-address`, e.g. a pod's IP), with the listeners' ports:
   * what the node list says for gathering records. Default: the listeners' host, or for 0.0.0.0 / :: this
   * machine's first non-internal IPv4 address.
   */
  advertiseAddress?: string;
  /** How often the embedded registry is garbage-collected, in ms; 0 disables it. Default 10 minutes. */
  gcIntervalMs?: number;
  /** Unreferenced blobs younger than this survive gc (pushes in progress), in ms. Default 1 hour. */
  gcGraceMs?: number;
  /** Timeouts and caps of both listeners (the output buffer is the router's); defaults: DEFAULT_HTTP_LIMITS. */
  http?: Partial<HttpLimits>;
  /** Count invocations and serve `/metrics` on the control port (default true; `--no-metrics`). */
  metrics?: boolean;
  /** OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318) to export a span per invocation to (`--otlp`). */
  otlp?: string;
  /** The NATS server of message-queue triggers (`--nats`); absent: they show state "error". */
  nats?: NatsConfig;
}

export interface Serving {
  /** The public listener's URL; "" on a node of role "control". */
  routerUrl: string;
  controlUrl: string;
  /** What function image references start with: the embedded registry's `host:port` (the control address), or
   * the external registry's `host[:port][/prefix]`. */
  registryHost: string;
  /** The external registry as a URL (`--registry`), when this node pushes or pulls images there. */
  externalRegistry?: string;
  store: Store;
  router: Router;
  /**
   * Stops gracefully, then closes: readiness (`/readyz`, `/healthz`) answers 503 at once on both ports and in
   * every router process, the listeners stop accepting, timers and queue consumers start nothing more, and the
   * requests, asynchronous invocations and queue messages in flight get up to `timeoutMs` to finish (those
   * still running then are cut; an asynchronous one runs again at the next start). Resolves once closed, with
   * the requests cut in every process and the time it all took.
   */
  drain(timeoutMs: number): Promise<DrainReport>;
  /** Closes at once: requests in flight are cut (the same as `drain(0)`, except that it waits for triggers). */
  close(): Promise<void>;
}

const SERVE_POLL_MS = 1000;

/**
 * The control port of a `--role router` node: health for probes, and its invocation records and logs under
 * `/api/v1` (createRecordsHandler); the rest of the API and the registry live on control nodes.
 */
const routerRoleFront: ControlFront = {
  handle(req, res) {
    const path = (req.url ?? "/").split("?")[0];
    if (path.startsWith("/api/v1/")) return false;
    if (path === "/healthz") sendJson(res, 200, { status: "ok", role: "router" });
    else
      sendError(
        req,
        res,
        new WasmletError(
          "NOT_FOUND",
          `path: ${path} — this node runs --role router: no control API or registry here`,
        ),
      );
    return true;
  },
};

/** The composition root of `wasmlet serve`: opens the store, wires registry, runtime, router and API, listens. */
export async function serve(config: ServeConfig): Promise<Serving> {
  const log = config.log ?? ((line: string) => console.error(line));
  if (!tuneMalloc(true))
    log(
      "wasmlet: the malloc tuning addon is not built (npm install builds it): freed memory may stay with the process",
    );
  // Large layers (a large module's image) hashed on libuv's threads, not on the request thread that reads them.
  setLayerHasher(nativeLayerHasher());
  // A large upload's shared memory faulted in on libuv's threads while its bytes arrive (http/setBodyPrefault).
  setBodyPrefault(loadAddon()?.populate);
  if (!isLoopback(config.control.host) && !config.token)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--control ${formatHostPort(config.control)} is not a loopback address: give a token (--token-file) to protect it`,
    );
  const role = config.role ?? "all";
  if (role !== "all" && !config.etcd)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--role ${role}: a node that does not run everything shares its platform with others: give --store etcd://…`,
    );
  const external = config.registry === undefined ? undefined : parseRegistryLocation(config.registry);
  const publicEmbedded =
    external || config.publicRegistry === undefined ? undefined : embeddedRegistryHost(config.publicRegistry);
  // Credentials by registry host; the external registry's own first. A router told only where the control
  // plane's embedded registry is (no credentials) sends its token there, as before.
  const registryAuth: Record<string, RegistryAuth> = { ...config.registryAuth };
  if (external) {
    const creds =
      config.registryCredentials ??
      config.registryAuth?.[external.host] ??
      (role === "router" && config.token ? { token: config.token } : undefined);
    if (creds) registryAuth[external.host] = creds;
  }
  const plainHttp = (host: string) =>
    external && host === external.host ? external.plainHttp : isLoopbackRegistry(host);
  if (role === "control" && (config.workers ?? 1) > 1)
    throw new WasmletError("INVALID_ARGUMENT", "--role control runs no router: --workers does not apply");
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Counted before pinning: a pinned thread sees one CPU (availableParallelism follows its own mask).
  const busyPollUs = config.busyPollUs ?? defaultBusyPollUs(config.workers ?? 1);
  // V8's threads yield to the request thread (see lowerV8Threads).
  const helperNice = config.helperNice ?? DEFAULT_HELPER_NICE;
  if (helperNice > 0) lowerV8Threads(helperNice);
  // Before any worker thread starts: they read the helper CPUs from the environment.
  const sliceNs = (config.requestSliceUs ?? 0) * 1000;
  if ((config.workers ?? 1) === 1) {
    if (config.cpuAffinity === "auto") pinRouterThreads(0, 1, log);
    if (sliceNs > 0) shortenRequestSlice(sliceNs);
  }
  // A given key file, or a default one that exists, is read now: a missing or group-readable key stops the start.
  const secretKeyFile = config.secretKeyFile ? resolve(config.secretKeyFile) : join(dataDir, SECRET_KEY_FILE);
  const secretKey = new SecretKey(secretKeyFile, { create: config.secretKeyFile === undefined });
  if (config.secretKeyFile !== undefined || existsSync(secretKeyFile)) secretKey.load();
  // Every write to the change feed goes through this process (API, builds), which tells its own watchers at
  // once: polling only catches writes from outside, so once a second is enough and keeps reads off the
  // request thread.
  const store = await openStore(
    config.etcd
      ? { kind: "etcd", dataDir, ...config.etcd }
      : { kind: "sqlite", dataDir, pollMs: SERVE_POLL_MS },
  );
  const images = new ImageStore({ root: join(dataDir, "registry"), gcGraceMs: config.gcGraceMs });
  // Counted once the metrics exist (below): requests before that are the server's own start.
  let registryOps: ((operation: string, status: number) => void) | undefined;
  const registryServer = new RegistryServer({
    store: images,
    token: config.token,
    onOperation: (operation, status) => registryOps?.(operation, status),
  });
  // Filled in once the control port listens: the server's own registry needs its token when it has one.
  let ownRegistry = "";
  const registry = new RegistryClient({
    auth: (host) =>
      host === ownRegistry && config.token && !external ? { token: config.token } : registryAuth[host],
    plainHttp,
  });
  const http: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...config.http };
  // Timers and queue triggers run here, in the control process only: with --workers N each event still starts
  // one invocation. They invoke through this process's runtime, under the same limits and logs as HTTP.
  const triggers = new Triggers({
    store,
    invoke: (fn, req) => runtime.invoke(fn, req),
    log,
    nats: config.nats,
  });

  // The control port first: the router pulls images from the embedded registry on it.
  let api: ApiHandler | undefined;
  // /metrics and the dashboard are wired once the data plane and the routers run (they read their counters);
  // until then their paths answer 503.
  let metrics: ControlFront | undefined;
  let ui: ControlFront | undefined;
  const etcd = store instanceof EtcdStore ? store : undefined;
  const late = (prefix: string, get: () => ControlFront | undefined): ControlFront => ({
    handle: (req, res) => {
      const front = get();
      if (front) return front.handle(req, res);
      const path = (req.url ?? "/").split("?")[0];
      if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
      sendError(req, res, new WasmletError("UNAVAILABLE", `${prefix} is starting; retry`));
      return true;
    },
  });
  // Both listeners answer the probes and stop together (graceful drain on SIGTERM).
  const drain = new Drain();
  const controlServer = createBoundedServer(
    http,
    drain.wrap(
      controlListener({
        fronts:
          role === "router"
            ? [...(config.metrics === false ? [] : [late("/metrics", () => metrics)]), routerRoleFront]
            : [
                external ? externalRegistryFront(external) : registryServer,
                ...(config.metrics === false ? [] : [late("/metrics", () => metrics)]),
                late("/ui", () => ui),
                ...(etcd ? [nodesFront({ list: () => listNodes(etcd), token: config.token })] : []),
              ],
        api: () => api,
        log,
      }),
    ),
  );
  drain.add(controlServer);
  const control = await listen(controlServer, config.control);
  // Aborted on close: kills running builds, whose packages stay "running" and are requeued on the next start.
  const shutdown = new AbortController();
  const controlHost = formatHostPort(control);
  // Function images are named by where the cluster pulls them from: the external registry, else the embedded
  // one at --public-registry (a Service name on Kubernetes, where the control port listens on 0.0.0.0), else at
  // the control address.
  const registryHost = external?.base ?? publicEmbedded ?? controlHost;
  ownRegistry = external ? "" : registryHost;
  // Images for this server's own registry are written straight into its store (no HTTP round trips).
  const registries = new ImageRegistries({
    store: images,
    client: registry,
    localHost: external ? undefined : registryHost,
  });
  const plane = createDataPlane({
    store,
    images: registries,
    log,
    dataDir,
    secretKey,
    outputBufferBytes: http.outputBufferBytes,
    metrics: config.metrics,
    tracer: config.otlp ? new (await import("./tracing.js")).InvocationTracer(config.otlp) : undefined,
  });
  const { runtime, router } = plane;
  // Router processes (--workers) are asked for theirs at each scrape; set once they run.
  let routerMetrics: (() => Promise<MetricsJson[]>) | undefined;
  let busyPoll: BusyPoll | undefined;
  const own = plane.stats
    ? new ProcessMetrics(plane.stats, runtime, plane.droppedLogs, () => busyPoll)
    : undefined;
  if (own) {
    metrics = metricsFront({
      own,
      others: () => routerMetrics?.() ?? Promise.resolve([]),
      token: config.token,
      log,
    });
    registryOps = (operation, status) =>
      own.registryOps.inc({ operation, status: `${Math.floor(status / 100)}xx` });
  }
  // An external registry holds other people's blobs too: Wasmlet never deletes there. Every version keeps its
  // tag (functions/<name>:v<n>), so the registry's own gc (docker-registry garbage-collect, Harbor's retention)
  // cannot take an image a version names.
  const collectGarbage = external
    ? () =>
        Promise.reject(
          new WasmletError(
            "UNAVAILABLE",
            `images are in the external registry ${external.url}: Wasmlet does not delete there; use that registry's own garbage collection or retention rules (each function version keeps its tag)`,
          ),
        )
    : (roots: Digest[]) => images.gc({ roots });
  // On etcd each node keeps its own invocation records, logs and async invocations: the API gathers them from
  // every live node (asking each for its own), a router node's control port included.
  const nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const peers = etcd && { self: nodeId, nodes: () => listNodes(etcd) };
  if (role === "router") api = createRecordsHandler({ store, token: config.token, cluster: peers, log });
  else {
    // A large module's upload is compiled as it arrives, on the compile thread (api/early-compile.ts): it boots
    // now, and loads Node's fetch implementation that compileStreaming needs (~58 ms the first time), rather than
    // during a server's first large upload. Its first runs go to a pool worker: one boots now too, rather than
    // then, when it took 30-50 ms of CPU from the upload's 2 cores (the pool keeps one idle worker for good once
    // one has booted, for these and for the runs that wait).
    setImmediate(() => {
      startCompileThread();
      runtime.prestartWorkers();
    });
    api = createApiHandler({
      store,
      registryHost,
      registry: external ? externalPushes(registries, external) : registries,
      // A large layer is written into the embedded store's staging directory as it is made, so the push that
      // follows renames it (ImageBundle.staged); an external registry gets it over HTTP.
      buildImage: external
        ? buildImage
        : async (opts) => buildImage({ ...opts, stageDir: await images.stagingDir() }),
      // The API needs a module's validity and memory; the reset analysis is the runtime's (it does its own).
      inspectModule: (bytes, opts) => inspectModule(bytes, { ...opts, resetBlockers: false }),
      invoke: (fn, req) => runtime.invoke(fn, req),
      run: (fn, req, collect) => runtime.run(fn, req, collect),
      onDeploy: (fn) => runtime.prepare(fn),
      prestartWorkers: () => runtime.prestartWorkers(),
      routesApplied: () => router.settled(),
      triggerStatus: (kind, name) => triggers.status(kind, name),
      token: config.token,
      cluster: peers,
      secretKey,
      collectGarbage,
      publicRegistry: config.publicRegistry,
      // One build at a time: a compiler takes a whole core and the other serves requests.
      buildQueue: new BuildQueue({ concurrency: 1, maxQueued: 16 }),
      signal: shutdown.signal,
      log,
      onBuild: own
        ? (builder, outcome, seconds) => own.builds.observe({ builder, outcome }, seconds)
        : undefined,
    });
  }

  // Periodic gc: the roots are read from the store at each pass, so a function created meanwhile is kept.
  const gcEvery = config.gcIntervalMs ?? 10 * 60 * 1000;
  let gcTimer: NodeJS.Timeout | undefined;
  const startGc = () => {
    if (gcEvery <= 0 || gcTimer || external) return;
    gcTimer = setInterval(() => {
      registryRoots(store)
        .then(collectGarbage)
        .then(
          (r) => {
            if (r.deletedBlobs > 0)
              log(`wasmlet: registry gc deleted ${r.deletedBlobs} blobs (${r.freedBytes} bytes)`);
          },
          (e) => log(`wasmlet: registry gc failed: ${e instanceof Error ? e.message : e}`),
        );
    }, gcEvery).unref();
  };
  const stopGc = () => {
    clearInterval(gcTimer);
    gcTimer = undefined;
  };

  // One process serves the public port itself; with --workers N, N router processes share it.
  let routerServer: Server | undefined;
  let routers: RouterCluster | undefined;
  let unwatchForRouters: (() => void) | undefined;
  let routerAddress = "";
  if (role === "control") {
    // No public listener: functions are served by the router nodes.
  } else if ((config.workers ?? 1) > 1) {
    routers = await startRouterCluster(
      config.workers ?? 1,
      {
        dataDir,
        etcd: config.etcd,
        secretKeyFile,
        busyPollUs,
        busyPollYield: config.busyPollYield,
        cpuAffinity: config.cpuAffinity === "auto",
        requestSliceNs: sliceNs,
        helperNice,
        routers: config.workers ?? 1,
        http,
        listen: config.listen,
        registryAuth,
        plainHttpRegistries: external?.plainHttp ? [external.host] : [],
        ownRegistry,
        token: config.token,
        metrics: config.metrics !== false,
        otlp: config.otlp,
      },
      log,
    );
    routerAddress = routers.address;
    routerMetrics = routers.metrics;
    const cluster = routers;
    unwatchForRouters = store.watch(() => cluster.notify());
  } else {
    await router.start();
    routerServer = drain.add(
      createRouterServer(
        plane,
        busyPollUs,
        http,
        drain,
        (p) => {
          busyPoll = p;
        },
        config.busyPollYield,
      ),
    );
    routerAddress = formatHostPort(await listen(routerServer, config.listen));
  }

  // Canary releases move route weights by the new function's failures, counted in every serving process. Without
  // counting (--no-metrics) a canary holds.
  const cluster = routers;
  // One process alone: its own counts (a fresh object) as they are, not copied into a sum of one.
  const countsEverywhere = async () =>
    cluster === undefined
      ? (plane.stats?.counts() ?? {})
      : sumCounts([plane.stats?.counts() ?? {}, ...(await cluster.counts())]);
  const canaries = new CanaryController({ store, counts: countsEverywhere, log });
  // The dashboard (/ui) shows the last minutes of every function's traffic from these samples.
  const sampler = new TrafficSampler(countsEverywhere);
  sampler.start();
  ui = uiFront({
    store,
    sampler,
    token: config.token,
    triggerStatus: (kind, name) => triggers.status(kind, name),
  });
  const routerUrl = routerAddress ? `http://${routerAddress}` : "";
  const controlUrl = `http://${controlHost}`;
  const advertised = (hostPort: string) =>
    formatHostPort(
      advertisedHostPort(parseHostPort(hostPort, "address"), config.advertiseAddress, networkInterfaces()),
    );
  // Duties that must fire once per platform, not once per node: registry gc, timers, queue triggers, canary steps.
  // Alone (SQLite) this process runs them; on etcd the node elected under a lease does, and they move when its
  // lease expires. Asynchronous invocations are each node's own (its SQLite): every node runs its runner.
  const duties = {
    start: async () => {
      startGc();
      await canaries.start();
      await triggers.start(["timer", "mqt"]);
    },
    stop: async () => {
      stopGc();
      canaries.stop();
      await triggers.stop(["timer", "mqt"]);
    },
  };
  let membership: EtcdMembership | undefined;
  let leadership: EtcdLeadership | undefined;
  if (etcd) {
    const id = nodeId;
    const node = new EtcdMembership(
      etcd,
      {
        id,
        role,
        routerUrl: routerAddress ? `http://${advertised(routerAddress)}` : "",
        controlUrl: `http://${advertised(controlHost)}`,
        startedAt: new Date().toISOString(),
      },
      log,
    );
    membership = node;
    await node.start();
    leadership = new EtcdLeadership(etcd, "control", id, duties, {
      log,
      onChange: (leader) =>
        void node.update({ leader }).catch((e) => log(`wasmlet: cannot update this node's entry: ${e}`)),
    });
    await triggers.start(["async"]);
    // A router node never holds the duties: it has no registry to collect and may sit at the edge.
    if (role !== "router") leadership.start();
  } else {
    await duties.start();
    await triggers.start(["async"]);
  }
  let closed = false;
  /** Set by a drain: the triggers' stop, bounded by the drain's timeout. */
  let triggersStopped: Promise<unknown> | undefined;
  const serving: Serving = {
    routerUrl,
    controlUrl,
    registryHost,
    externalRegistry: external?.url,
    store,
    router,
    async drain(timeoutMs) {
      const started = performance.now();
      const timeout = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
      triggersStopped ??= Promise.race([triggers.stop(), timeout]);
      const [own, others] = await Promise.all([
        drain.drain(timeoutMs),
        routers?.drain(timeoutMs),
        triggersStopped,
      ]);
      await serving.close();
      // Every process's cuts, and the time until all of them and the triggers were done.
      return { cut: own.cut + (others?.cut ?? 0), ms: Math.round(performance.now() - started) };
    },
    async close() {
      if (closed) return;
      closed = true;
      await leadership?.close();
      await membership?.close();
      stopGc();
      canaries.stop();
      sampler.stop();
      await (triggersStopped ?? triggers.stop());
      shutdown.abort();
      unwatchForRouters?.();
      await Promise.all([routers?.drain(0), drain.drain(0)]);
      await plane.close();
      await registryServer.close();
      await images.close();
      await store.close();
    },
  };
  return serving;
}
