import type { RequestListener, Server } from "node:http";
import {
  DEFAULT_HTTP_LIMITS,
  type FunctionRecord,
  type HttpLimits,
  invocationId,
  type LoadedImage,
} from "../core/index.js";
import type { ImageRegistries } from "../registry/index.js";
import { OutputBudget, Router } from "../router/index.js";
import {
  HybridExecutor,
  type InvocationRecord,
  InvocationStats,
  Runtime,
  setThreadCpuClock,
} from "../runtime/index.js";
import { type SecretKey, ValueResolver } from "../secrets/index.js";
import type { Store } from "../store/index.js";
import { BusyPoll } from "./busy-poll.js";
import type { Drain } from "./drain.js";
import { createBoundedServer } from "./http-limits.js";
import { LogBuffer, storeLogs } from "./log-buffer.js";
import { LogWriterThread } from "./log-writer.js";
import { load as loadAddon } from "./malloc-tune.js";
import type { InvocationTracer } from "./tracing.js";

/** What serves function traffic: runtime, router and the log buffer, over a store and the registries. */
export interface DataPlane {
  runtime: Runtime;
  router: Router;
  /** The invocation counters behind the metrics (absent when metrics are off). */
  stats?: InvocationStats;
  /** Invocation records dropped because the log writer fell behind, by function, since the start. */
  droppedLogs: ReadonlyMap<string, number>;
  /** True while sandbox worker threads run invocations (functions demoted off the request thread). */
  workersBusy(): boolean;
  /** Stops following the store, flushes logs and stops the sandboxes (the store stays open). */
  close(): Promise<void>;
}

/**
 * Wires the request path: images come from the embedded registry's storage by digest (no HTTP, independent of
 * the port it listens on) or else from their registry; invocation records are batched into the store.
 * Used by `wasmlet serve` in one process and by each router process of `serve --workers N`.
 */
export function createDataPlane(opts: {
  store: Store;
  /** Where images are loaded from by digest: the embedded store, else their registry. */
  images: Pick<ImageRegistries, "load">;
  log: (line: string) => void;
  /** With a SQLite store: its directory, so that log batches are written from a thread of their own. */
  dataDir?: string;
  /** Opens the secrets functions mount; absent: functions that mount a secret fail (500). */
  secretKey?: SecretKey;
  /** Bytes of response bodies held for slow clients, at most (default DEFAULT_HTTP_LIMITS). */
  outputBufferBytes?: number;
  /** Count invocations for the metrics (default true). */
  metrics?: boolean;
  /** Exports a span per invocation (`serve --otlp`: an InvocationTracer, loaded only then). */
  tracer?: Pick<InvocationTracer, "record" | "close">;
}): DataPlane {
  const { store, images, log } = opts;
  const writer = opts.dataDir ? new LogWriterThread(opts.dataDir) : undefined;
  const logs = new LogBuffer(writer?.write ?? ((p) => storeLogs(store, p)), 100, 500, (e) =>
    log(`wasmlet: cannot store logs: ${String(e)}`),
  );
  // The request thread's budget per run counts this thread's CPU, not the scheduler's pauses (runtime/cpu-budget.ts).
  setThreadCpuClock(loadAddon()?.threadCpuMs);
  const executor = new HybridExecutor();
  const loadImage = (fn: FunctionRecord): Promise<LoadedImage> =>
    images.load(fn.current.image, fn.current.digest);
  const stats = opts.metrics === false ? undefined : new InvocationStats();
  const tracer = opts.tracer;
  const onLog = tracer
    ? (r: InvocationRecord) => {
        logs.add(r);
        tracer.record(r, invocationId(r.invocation));
      }
    : logs.add;
  // Secrets and configs are read from the store and forgotten on each change of them (the change feed), so an
  // update reaches the next invocation in every process without a redeploy.
  const values = new ValueResolver(store, opts.secretKey);
  values.start();
  const runtime = new Runtime({ executor, loadImage, onLog, stats, values: (fn) => values.resolve(fn) });
  const router = new Router({
    store,
    invoker: runtime,
    outputBudget: new OutputBudget(opts.outputBufferBytes ?? DEFAULT_HTTP_LIMITS.outputBufferBytes),
    onRejected: stats ? (fn, status) => stats.record(fn, "http", "rejected", 0, status) : undefined,
    onApplyError: (e) =>
      log(`wasmlet: cannot apply a store change to the routes: ${e instanceof Error ? e.message : e}`),
    onPrepareError: (fn, e) =>
      log(`wasmlet: cannot prepare function ${fn.name}: ${e instanceof Error ? e.message : e}`),
    onWarmUpError: (e) =>
      log(`wasmlet: the request path's warm-up failed: ${e instanceof Error ? e.message : e}`),
  });
  return {
    runtime,
    router,
    stats,
    droppedLogs: logs.droppedTotal,
    workersBusy: () => executor.workersBusy,
    async close() {
      router.stop();
      values.stop();
      await logs.flush();
      await tracer?.close();
      await writer?.close();
      await executor.close();
    },
  };
}

/**
 * The public listener: the router's request handler. With `busyPollUs` > 0 the request thread stays awake
 * that long after a request while traffic is steady and no sandbox worker needs the CPU (see BusyPoll). With a
 * `drain`, the probes come first and the requests are counted for a graceful stop (the caller adds the server
 * to it).
 */
export function createRouterServer(
  plane: Pick<DataPlane, "router" | "workersBusy">,
  busyPollUs = 0,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
  drain?: Drain,
  /** Receives the poll (for its metrics) when there is one. */
  onPoll?: (poll: BusyPoll) => void,
  /** BusyPoll's `contentionShare` (serve --busy-poll-yield); 0: the spin never yields. */
  contentionShare = 0,
): Server {
  const wrap = (l: RequestListener) => (drain ? drain.wrap(l) : l);
  if (busyPollUs <= 0) return createBoundedServer(limits, wrap(plane.router.handle));
  const poll = new BusyPoll(busyPollUs, { otherWork: plane.workersBusy, contentionShare });
  onPoll?.(poll);
  const handle = plane.router.handle;
  return createBoundedServer(
    limits,
    wrap((req, res) => {
      poll.arrived();
      handle(req, res);
    }),
  );
}
