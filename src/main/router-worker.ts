// Entry of a router process of `wasmlet serve --workers N` (a node:cluster worker): serves the public port
// next to its siblings, reading functions and routes from the shared store and images from the embedded
// registry's storage. The primary keeps the control plane (API, registry, builds).

import cluster from "node:cluster";
import { join } from "node:path";
import { DEFAULT_DRAIN_TIMEOUT_MS, type HttpLimits } from "../core/index.js";
import {
  ImageRegistries,
  ImageStore,
  isLoopbackRegistry,
  type RegistryAuth,
  RegistryClient,
} from "../registry/index.js";
import { type FunctionCounts, type InvocationStats, lowerV8Threads } from "../runtime/index.js";
import { SecretKey } from "../secrets/index.js";
import { type EtcdConnection, openStore, SqliteStore } from "../store/index.js";
import { formatHostPort, type HostPort } from "./address.js";
import type { BusyPoll } from "./busy-poll.js";
import { pinRouterThreads } from "./cpu-affinity.js";
import { createDataPlane, createRouterServer } from "./data-plane.js";
import { Drain } from "./drain.js";
import { listen } from "./listen.js";
import { tuneMalloc } from "./malloc-tune.js";
import { type MetricsJson, ProcessMetrics } from "./metrics.js";
import { shortenRequestSlice } from "./request-slice.js";

/** What the primary passes to each router process (as JSON in WASMLET_ROUTER_CONFIG). */
export interface RouterWorkerConfig {
  dataDir: string;
  /** The etcd cluster of `--store etcd://…` (each router process follows its change feed itself). */
  etcd?: EtcdConnection;
  /** The key file secrets are sealed with (read, never created, here). */
  secretKeyFile: string;
  listen: HostPort;
  /** The request thread's busy-poll window (see BusyPoll); 0: off. */
  busyPollUs: number;
  /** See ServeConfig.busyPollYield. */
  busyPollYield?: number;
  /** Pin this router's request thread to a CPU of its own (serve --cpu-affinity auto). */
  cpuAffinity?: boolean;
  /** The request thread's scheduler slice (see request-slice.ts); 0: the kernel's default. */
  requestSliceNs?: number;
  /** Nice value for V8's threads in this process (see lowerV8Threads); 0: left as they are. */
  helperNice?: number;
  /** How many router processes there are (for the CPU plan). */
  routers?: number;
  /** Timeouts and caps of the public listener. */
  http: HttpLimits;
  registryAuth?: Record<string, RegistryAuth>;
  /** Registry hosts spoken to over plain HTTP besides loopback ones (an `http://` `serve --registry`). */
  plainHttpRegistries?: string[];
  /** The primary's own registry and its token, for images pulled over HTTP from it ("": none). */
  ownRegistry: string;
  token?: string;
  /** Count invocations and answer the primary's "metrics" requests. */
  metrics: boolean;
  /** OTLP/HTTP endpoint for invocation spans. */
  otlp?: string;
}

/** Messages a router process sends the primary. */
export type RouterWorkerMessage =
  | { type: "listening"; address: string }
  | { type: "failed"; message: string }
  | { type: "metrics"; id: number; json: MetricsJson }
  | { type: "counts"; id: number; counts: FunctionCounts }
  | { type: "drained"; cut: number };
/**
 * Messages the primary sends a router process: "the store changed", so it reads the feed at once; "metrics",
 * answered with this process's metrics (the primary sums them into its /metrics); "counts", answered with its
 * invocation counts per function (the canary controller's input); "drain", stop gracefully within `timeoutMs`
 * (0: at once) and exit.
 */
export type PrimaryMessage =
  | { type: "changed" }
  | { type: "metrics" | "counts"; id: number }
  | { type: "drain"; timeoutMs: number };

async function main(config: RouterWorkerConfig): Promise<void> {
  const log = (line: string) => console.error(`[router ${process.pid}] ${line}`);
  tuneMalloc();
  if (config.helperNice) lowerV8Threads(config.helperNice);
  if (config.requestSliceNs) shortenRequestSlice(config.requestSliceNs);
  // The serve process says when the feed changed ("changed" below): polling is the fallback if a message is lost.
  const store = await openStore(
    config.etcd
      ? { kind: "etcd", dataDir: config.dataDir, ...config.etcd }
      : { kind: "sqlite", dataDir: config.dataDir, pollMs: 250 },
  );
  let metrics: ProcessMetrics | undefined;
  let stats: InvocationStats | undefined;
  process.on("message", (m: PrimaryMessage) => {
    if (m.type === "changed") {
      if (store instanceof SqliteStore) store.pollNow();
    } else if (m.type === "drain") void stop(m.timeoutMs);
    else if (m.type === "metrics" && metrics)
      void metrics
        .json()
        .then((json) => process.send?.({ type: "metrics", id: m.id, json } satisfies RouterWorkerMessage));
    else if (m.type === "counts")
      process.send?.({
        type: "counts",
        id: m.id,
        counts: stats?.counts() ?? {},
      } satisfies RouterWorkerMessage);
  });
  // Only read from here (images by digest): no sweeps, no gc; the primary owns the registry's data.
  const images = new ImageStore({ root: join(config.dataDir, "registry"), sweepIntervalMs: 0 });
  const client = new RegistryClient({
    auth: (host) =>
      host === config.ownRegistry && config.token ? { token: config.token } : config.registryAuth?.[host],
    plainHttp: (host) => config.plainHttpRegistries?.includes(host) || isLoopbackRegistry(host),
  });
  if (config.cpuAffinity)
    pinRouterThreads(((cluster.worker?.id ?? 1) - 1) % (config.routers ?? 1), config.routers ?? 1, log);
  const plane = createDataPlane({
    store,
    images: new ImageRegistries({ store: images, client }),
    log,
    dataDir: config.dataDir,
    secretKey: new SecretKey(config.secretKeyFile),
    outputBufferBytes: config.http.outputBufferBytes,
    metrics: config.metrics,
    tracer: config.otlp ? new (await import("./tracing.js")).InvocationTracer(config.otlp) : undefined,
  });
  stats = plane.stats;
  let busyPoll: BusyPoll | undefined;
  if (stats) metrics = new ProcessMetrics(stats, plane.runtime, plane.droppedLogs, () => busyPoll);
  await plane.router.start();
  const drain = new Drain();
  const server = drain.add(
    createRouterServer(
      plane,
      config.busyPollUs,
      config.http,
      drain,
      (p) => {
        busyPoll = p;
      },
      config.busyPollYield,
    ),
  );
  const at = await listen(server, config.listen);
  process.send?.({ type: "listening", address: formatHostPort(at) } satisfies RouterWorkerMessage);
  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs: number) => {
    if (stopping) {
      // Asked again (a second signal, or the primary gone): what is left is closed at once.
      if (timeoutMs === 0) void drain.drain(0);
      return;
    }
    stopping = (async () => {
      const { cut } = await drain.drain(timeoutMs);
      if (cut > 0) log(`wasmlet: drain timeout: ${cut} requests cut`);
      if (process.connected) process.send?.({ type: "drained", cut } satisfies RouterWorkerMessage);
      await plane.close();
      await images.close();
      await store.close();
      process.exit(0);
    })();
  };
  process.on("SIGTERM", () => stop(DEFAULT_DRAIN_TIMEOUT_MS));
  // Ctrl-C reaches every process of the group: the primary decides, and tells the routers ("drain").
  process.on("SIGINT", () => undefined);
  process.on("disconnect", () => stop(0));
}

if (cluster.isWorker) {
  const config = JSON.parse(process.env.WASMLET_ROUTER_CONFIG ?? "{}") as RouterWorkerConfig;
  main(config).catch((e) => {
    process.send?.({
      type: "failed",
      message: e instanceof Error ? e.message : String(e),
    } satisfies RouterWorkerMessage);
    process.exit(1);
  });
}
