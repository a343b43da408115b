import type { IncomingMessage, ServerResponse } from "node:http";
import client from "prom-client";
import type { ControlFront } from "../api/index.js";
import { finishEarly, methodNotAllowed, refuseWithoutToken, sendError, sendText } from "../http/index.js";
import {
  COUNTED_BOUNDS_S,
  DURATION_BUCKETS_S,
  type InvocationStats,
  OUTCOMES,
  type Runtime,
} from "../runtime/index.js";
import type { BusyPoll } from "./busy-poll.js";

const EXPOSED = new Set(DURATION_BUCKETS_S);

/** The metrics of one process as prom-client serialises them (what router processes send the serve process). */
export type MetricsJson = Awaited<ReturnType<client.Registry["getMetricsAsJSON"]>>;

export const METRICS_PATH = "/metrics";

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * A metric whose samples are computed when scraped (prom-client's custom-metric shape: name, help, type,
 * aggregator, get()); `sum` adds the samples of several processes that have equal labels.
 */
function scraped(
  name: string,
  help: string,
  type: "counter" | "gauge" | "histogram",
  values: () => Sample[],
) {
  return {
    name,
    help,
    type,
    aggregator: "sum" as const,
    get: async () => ({ name, help, type, aggregator: "sum" as const, values: values() }),
  };
}

/**
 * One process's metrics: the invocation counters of its runtime (read from InvocationStats at scrape time),
 * the gauges of its function gates, and the process's own metrics (prom-client's defaults: CPU, memory, event
 * loop lag, GC).
 */
export class ProcessMetrics {
  readonly registry = new client.Registry();

  /** Package builds by builder and outcome, and their durations (the serve process runs them). */
  readonly builds: client.Histogram<"builder" | "outcome">;
  /** Requests to the embedded registry's /v2 by operation and status class. */
  readonly registryOps: client.Counter<"operation" | "status">;

  constructor(
    stats: InvocationStats,
    runtime: Pick<Runtime, "load">,
    droppedLogs: ReadonlyMap<string, number> = new Map(),
    /** The request thread's busy-poll, once the router server has one. */
    busyPoll: () => Pick<BusyPoll, "spinSeconds" | "yields"> | undefined = () => undefined,
  ) {
    const add = (m: ReturnType<typeof scraped>) =>
      this.registry.registerMetric(m as unknown as client.Metric<string>);
    add(
      scraped(
        "wasmlet_function_invocations_total",
        "Invocations by function, version, trigger (http, api, timer, queue, async) and outcome (success, error, timeout, rejected, cancelled).",
        "counter",
        () => {
          const out: Sample[] = [];
          for (const e of stats.entries())
            OUTCOMES.forEach((outcome, i) => {
              out.push({
                value: e.outcomes[i],
                labels: { function: e.function, version: e.version, trigger: e.trigger, outcome },
              });
            });
          return out;
        },
      ),
    );
    add(
      scraped(
        "wasmlet_function_duration_seconds",
        "Time of an invocation in its instance (the whole invocation when it did not run), OpenTelemetry FaaS buckets.",
        "histogram",
        () => {
          const out: Sample[] = [];
          const name = "wasmlet_function_duration_seconds";
          for (const e of stats.entries()) {
            const labels = { function: e.function, version: e.version, trigger: e.trigger };
            // Cumulative counts at the OpenTelemetry bounds only (the finer ones below 5 ms are summed in).
            let cumulative = 0;
            COUNTED_BOUNDS_S.forEach((le, i) => {
              cumulative += e.buckets[i];
              if (EXPOSED.has(le))
                out.push({ value: cumulative, labels: { ...labels, le }, metricName: `${name}_bucket` });
            });
            cumulative += e.buckets[COUNTED_BOUNDS_S.length];
            out.push({ value: cumulative, labels: { ...labels, le: "+Inf" }, metricName: `${name}_bucket` });
            out.push({ value: e.durationSum, labels, metricName: `${name}_sum` });
            out.push({ value: e.durationCount, labels, metricName: `${name}_count` });
          }
          return out;
        },
      ),
    );
    add(
      scraped(
        "wasmlet_function_cold_starts_total",
        "Invocations that had to load and prepare their function version's image first (in this process).",
        "counter",
        () =>
          [...stats.coldStarts()].map((c) => ({
            value: c.n,
            labels: { function: c.function, version: c.version },
          })),
      ),
    );
    add(
      scraped("wasmlet_function_in_flight", "Invocations of a function running now.", "gauge", () =>
        [...runtime.load()].map((l) => ({ value: l.inFlight, labels: { function: l.function } })),
      ),
    );
    add(
      scraped("wasmlet_function_queued", "Invocations of a function waiting for a turn now.", "gauge", () =>
        [...runtime.load()].map((l) => ({ value: l.queued, labels: { function: l.function } })),
      ),
    );
    add(
      scraped(
        "wasmlet_log_records_dropped_total",
        "Invocation records dropped because the log writer fell behind (their invocations ran; `fn logs` shows the count).",
        "counter",
        () => [...droppedLogs].map(([fn, n]) => ({ value: n, labels: { function: fn } })),
      ),
    );
    add(
      scraped(
        "wasmlet_router_busy_poll_seconds_total",
        "Wall time the request thread kept itself awake between requests (serve --busy-poll-us) instead of sleeping.",
        "counter",
        () => {
          const p = busyPoll();
          return p ? [{ value: p.spinSeconds, labels: {} }] : [];
        },
      ),
    );
    add(
      scraped(
        "wasmlet_router_busy_poll_yields_total",
        "Times the request thread stopped keeping itself awake because another thread was waiting for its CPU.",
        "counter",
        () => {
          const p = busyPoll();
          return p ? [{ value: p.yields, labels: {} }] : [];
        },
      ),
    );
    this.builds = new client.Histogram({
      name: "wasmlet_build_duration_seconds",
      help: "Package builds by builder and outcome (succeeded, failed), and how long they took.",
      labelNames: ["builder", "outcome"],
      buckets: [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
      registers: [this.registry],
    });
    this.registryOps = new client.Counter({
      name: "wasmlet_registry_operations_total",
      help: "Requests to the embedded registry (/v2) by operation (blob_get, blob_upload, manifest_put, ...) and status class (2xx, 4xx, 5xx).",
      labelNames: ["operation", "status"],
      registers: [this.registry],
    });
    client.collectDefaultMetrics({ register: this.registry });
  }

  json(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON();
  }
}

/**
 * `GET /metrics` on the control port, in the Prometheus text format: this process's metrics summed with those of
 * every router process (`others`), so one scrape sees the whole server. Needs the control token when one is set.
 */
export function metricsFront(opts: {
  own: ProcessMetrics;
  others?: () => Promise<MetricsJson[]>;
  token?: string;
  log?: (line: string) => void;
}): ControlFront {
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const all = [await opts.own.json(), ...((await opts.others?.()) ?? [])];
    const registry = all.length === 1 ? opts.own.registry : client.AggregatorRegistry.aggregate(all);
    const text = await registry.metrics();
    finishEarly(req, res);
    sendText(res, 200, text, { "content-type": registry.contentType });
  };
  return {
    handle(req, res) {
      const path = (req.url ?? "/").split("?")[0];
      if (path !== METRICS_PATH) return false;
      if (refuseWithoutToken(req, res, opts.token)) return true;
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendError(req, res, methodNotAllowed(req.method ?? "", METRICS_PATH, ["GET", "HEAD"]), {
          status: 405,
          headers: { allow: "GET, HEAD" },
        });
        return true;
      }
      answer(req, res).catch((e) => sendError(req, res, e, { log: opts.log }));
      return true;
    },
  };
}
