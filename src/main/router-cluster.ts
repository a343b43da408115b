import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { WasmletError } from "../core/index.js";
import type { FunctionCounts } from "../runtime/index.js";
import type { MetricsJson } from "./metrics.js";
import type { PrimaryMessage, RouterWorkerConfig, RouterWorkerMessage } from "./router-worker.js";

/** Router processes sharing the public port (`serve --workers N`): one per core serves on every core. */
export interface RouterCluster {
  /** `host:port` the routers listen on. */
  address: string;
  /** Tells every router that the store changed (they would otherwise see it at their next poll). */
  notify(): void;
  /** Every router's metrics; a router that does not answer within 1 s is left out of this scrape. */
  metrics(): Promise<MetricsJson[]>;
  /** Every router's invocation counts per function (a router that does not answer within 1 s is left out). */
  counts(): Promise<FunctionCounts[]>;
  /**
   * Has every router stop gracefully (see Drain: readiness 503, no new connections, requests in flight get up to
   * `timeoutMs`; 0: at once) and resolves once all have exited, with the requests they cut; one still running
   * 5 s past the timeout is killed.
   */
  drain(timeoutMs: number): Promise<{ cut: number }>;
}

const WORKER_ENTRY = fileURLToPath(new URL("./router-worker.js", import.meta.url));

/**
 * Forks `count` router processes and resolves once all listen. A router that dies is replaced (after 1 s, so a
 * crash loop does not spin). Port 0 gives every router the same ephemeral port: node's cluster shares it.
 */
export async function startRouterCluster(
  count: number,
  config: RouterWorkerConfig,
  log: (line: string) => void,
): Promise<RouterCluster> {
  cluster.setupPrimary({ exec: WORKER_ENTRY, silent: false });
  const env = { WASMLET_ROUTER_CONFIG: JSON.stringify(config) };
  const workers = new Set<Worker>();
  let closing = false;
  /** Requests the routers cut when their drain timed out. */
  let cut = 0;
  let nextId = 0;
  const pending = new Map<number, (answer: unknown) => void>();
  /** Asks every connected router; resolves with the answers that came within 1 s. */
  const ask = <T>(type: "metrics" | "counts"): Promise<T[]> =>
    Promise.all(
      [...workers]
        .filter((w) => w.isConnected())
        .map(
          (w) =>
            new Promise<T | undefined>((resolve) => {
              const id = nextId++;
              const timer = setTimeout(() => {
                pending.delete(id);
                resolve(undefined);
              }, 1000);
              pending.set(id, (answer) => {
                clearTimeout(timer);
                pending.delete(id);
                resolve(answer as T);
              });
              w.send({ type, id } satisfies PrimaryMessage);
            }),
        ),
    ).then((all) => all.filter((a): a is Awaited<T> => a !== undefined) as T[]);
  const fork = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork(env);
      workers.add(w);
      let up = false;
      w.on("message", (m: RouterWorkerMessage) => {
        if (m.type === "listening") {
          up = true;
          resolve(m.address);
        } else if (m.type === "metrics") pending.get(m.id)?.(m.json);
        else if (m.type === "counts") pending.get(m.id)?.(m.counts);
        else if (m.type === "drained") cut += m.cut;
        else reject(new WasmletError("UNAVAILABLE", `router process failed to start: ${m.message}`));
      });
      w.on("exit", (code) => {
        workers.delete(w);
        if (!up) reject(new WasmletError("UNAVAILABLE", `router process exited with code ${code} at start`));
        else if (!closing) {
          log(`wasmlet: router process ${w.process.pid} exited (code ${code}); starting another`);
          setTimeout(() => {
            if (!closing) fork().catch((e) => log(`wasmlet: ${e instanceof Error ? e.message : e}`));
          }, 1000).unref();
        }
      });
    });
  const addresses = await Promise.all(Array.from({ length: count }, fork));
  let notifying = false;
  return {
    address: addresses[0],
    notify() {
      // One message per burst of writes: the routers read every change since their last one anyway.
      if (notifying) return;
      notifying = true;
      setImmediate(() => {
        notifying = false;
        for (const w of workers) if (w.isConnected()) w.send({ type: "changed" } satisfies PrimaryMessage);
      });
    },
    metrics: () => ask<MetricsJson>("metrics"),
    counts: () => ask<FunctionCounts>("counts"),
    async drain(timeoutMs) {
      closing = true;
      await Promise.all(
        [...workers].map(
          (w) =>
            new Promise<void>((r) => {
              if (w.process.exitCode !== null || w.process.signalCode !== null) return r();
              const kill = setTimeout(() => w.process.kill("SIGKILL"), timeoutMs + 5000);
              w.once("exit", () => {
                clearTimeout(kill);
                r();
              });
              if (w.isConnected()) w.send({ type: "drain", timeoutMs } satisfies PrimaryMessage);
              else w.process.kill("SIGTERM");
            }),
        ),
      );
      return { cut };
    },
  };
}
