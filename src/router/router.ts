import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type Digest,
  type FunctionRecord,
  HEALTH_PATH,
  type HttpTriggerRecord,
  INVOCATION_ID_HEADER,
  invocationId,
  nextInvocation,
  ROUTE_FUNCTION_HEADER,
  ROUTE_KEY_HEADER,
  routeFunctions,
} from "../core/index.js";
import { collectBody, finishEarly, sendText } from "../http/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import type { Change, Store } from "../store/index.js";
import { ASYNC_MAX_BODY_BYTES, acceptAsync, wantsAsync } from "./async.js";
import { ClientConnection, type OutputBudget, sendResponse } from "./respond.js";
import { RouteTable } from "./route-table.js";
import { pickFunction } from "./weights.js";

/** What the router needs from the runtime. */
export interface Invoker {
  /** Runs one request; never rejects (failures are responses). */
  invoke(fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse>;
  /** Prepares a function's current version ahead of its first request. */
  prepare(fn: FunctionRecord): Promise<void>;
  /** Runs the request path once before the first request (compiles its code); `start()` awaits it. */
  warmUp?(): Promise<void>;
  /** Frees what was prepared for a digest no routed or deployed function runs any more. */
  release?(digest: Digest): void;
}

export interface RouterOptions {
  store: Store;
  invoker: Invoker;
  /** How many routed functions `start()` prepares before it resolves (default 1000). */
  prepareOnStart?: number;
  /** Called when a change cannot be applied (e.g. the store failed); the next change retries. */
  onApplyError?: (err: unknown) => void;
  /** Called when preparing a deployed function fails (it will be retried on its first request). */
  onPrepareError?: (fn: FunctionRecord, err: unknown) => void;
  /** Called when the invoker's warm-up fails (requests are still served). */
  onWarmUpError?: (err: unknown) => void;
  /** Bounds the response bytes held for slow clients across all requests (see OutputBudget); none: unbounded. */
  outputBudget?: OutputBudget;
  /** Told of a request refused before it reached the function (a body over its limit: 413), for the metrics. */
  onRejected?: (fn: FunctionRecord, status: number) => void;
}

/**
 * HTTP ingress. Keeps a RouteTable built from the store and updated on every change of a function or trigger
 * (from the store's change feed: the router never talks to the API).
 */
export class Router {
  private table = new RouteTable();
  private unwatch: (() => void) | undefined;
  /** Changes seen and not applied yet; applied in batches, so a burst of changes to one record reads it once. */
  private pending: Change[] = [];
  private applying: Promise<void> = Promise.resolve();
  private draining = false;

  constructor(private readonly options: RouterOptions) {}

  /**
   * Loads every function and trigger and starts following the change feed. Resolves once the functions that
   * have routes are prepared (at most `prepareOnStart`, most recently updated first), so that the first
   * request after a restart does not pay for compilation; the rest are prepared on first use. Then the
   * invoker warms up its request path.
   */
  async start(): Promise<void> {
    const { store } = this.options;
    // Changes seen while the lists are read wait until the table is built, then are applied to it (they read
    // the store again, so applying one the lists already include changes nothing).
    let listed = false;
    this.unwatch = store.watch((c) => {
      this.pending.push(c);
      if (listed) this.kick();
    });
    const [fns, triggers] = await Promise.all([store.list("function"), store.list("httptrigger")]).catch(
      (e) => {
        this.stop();
        throw e;
      },
    );
    this.table = new RouteTable(
      new Map(triggers.map((t) => [t.name, t])),
      new Map(fns.map((f) => [f.name, f])),
    );
    listed = true;
    if (this.pending.length > 0) this.kick();
    const routed = new Set(triggers.flatMap(routeFunctions));
    const warm = fns
      .filter((f) => routed.has(f.name))
      .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
      .slice(0, this.options.prepareOnStart ?? 1000);
    // Preparing is CPU-bound (rewrite + compile): a few at a time keeps the event loop responsive.
    let next = 0;
    const worker = async () => {
      while (next < warm.length) {
        const fn = warm[next++];
        await this.options.invoker.prepare(fn).catch((e) => this.options.onPrepareError?.(fn, e));
      }
    };
    await Promise.all([worker(), worker()]);
    await this.options.invoker.warmUp?.().catch((e) => this.options.onWarmUpError?.(e));
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = true;
    this.applying = this.drain();
  }

  /** Resolves once every change seen so far is in the table. */
  settled(): Promise<void> {
    return this.applying;
  }

  stop(): void {
    this.unwatch?.();
  }

  get routes(): RouteTable {
    return this.table;
  }

  /** Applies pending changes in batches until none is left: each resource read once, the table updated in one step. */
  private async drain(): Promise<void> {
    const { store } = this.options;
    let batch: Change[] = [];
    try {
      while (this.pending.length > 0) {
        batch = this.pending.splice(0);
        // Read every changed record first, then update the table in one synchronous step: a request sees the
        // table before the batch or after it, never halfway.
        const functions: [string, FunctionRecord | undefined][] = [];
        const triggers: [string, HttpTriggerRecord | undefined][] = [];
        const seen = new Set<string>();
        for (const c of batch) {
          const key = `${c.kind}/${c.name}`;
          if (seen.has(key)) continue;
          seen.add(key);
          if (c.kind === "function") functions.push([c.name, await store.get("function", c.name)]);
          else if (c.kind === "httptrigger") triggers.push([c.name, await store.get("httptrigger", c.name)]);
        }
        const table = this.table;
        const deployed: FunctionRecord[] = [];
        const replaced = new Set<Digest>();
        for (const [name, fn] of functions) {
          const old = table.functions.get(name)?.current.digest;
          if (old !== undefined && old !== fn?.current.digest) replaced.add(old);
          if (fn) {
            table.setFunction(fn);
            deployed.push(fn);
          } else table.deleteFunction(name);
        }
        for (const [name, t] of triggers) {
          if (t) table.setTrigger(t);
          else table.deleteTrigger(name);
        }
        for (const fn of deployed) this.prepare(fn);
        if (replaced.size > 0) this.release(replaced);
      }
    } catch (e) {
      // Put the batch back: the next change retries it.
      this.pending.unshift(...batch);
      this.options.onApplyError?.(e);
    } finally {
      this.draining = false;
    }
  }

  /** Releases the digests of `replaced` that no function in the table runs any more. */
  private release(replaced: Set<Digest>): void {
    const release = this.options.invoker.release;
    if (!release) return;
    for (const fn of this.table.functions.values()) replaced.delete(fn.current.digest);
    for (const d of replaced) release.call(this.options.invoker, d);
  }

  private prepare(fn: FunctionRecord): void {
    this.options.invoker.prepare(fn).catch((e) => this.options.onPrepareError?.(fn, e));
  }

  /** The function a weighted route sends this request to (see pickFunction). */
  private weighted(t: HttpTriggerRecord, req: IncomingMessage): FunctionRecord | undefined {
    const forced = req.headers[ROUTE_FUNCTION_HEADER];
    const key = req.headers[ROUTE_KEY_HEADER];
    return this.table.functions.get(
      pickFunction(
        t,
        typeof forced === "string" ? forced : undefined,
        typeof key === "string" ? key : undefined,
      ),
    );
  }

  /** The node:http request listener of the public port. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const arrivedAt = performance.now();
    const url = req.url ?? "/";
    if (url === HEALTH_PATH) {
      sendText(res, 200, "ok\n");
      return;
    }
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? "GET";
    const found = this.table.lookup(method, path);
    if ("status" in found) {
      finishEarly(req, res);
      if (found.status === 405) {
        res.setHeader("allow", found.allow.join(", "));
        sendText(res, 405, `method ${method} is not allowed on ${path}\n`);
      } else sendText(res, 404, `no route for ${method} ${path}\n`);
      return;
    }
    const { match } = found;
    const fn = match.trigger.weights ? this.weighted(match.trigger, req) : match.fn;
    if (!fn) {
      finishEarly(req, res);
      sendText(res, 404, `route ${match.trigger.name} points to a function that does not exist\n`);
      return;
    }
    const runLater = wantsAsync(match.trigger, req.headers);
    const limit = runLater ? Math.min(fn.limits.maxBodyBytes, ASYNC_MAX_BODY_BYTES) : fn.limits.maxBodyBytes;
    const dispatch = (body: Uint8Array): void => {
      if (runLater) {
        const route = {
          pattern: match.pattern,
          scriptName: match.scriptName,
          pathInfo: match.pathInfo,
          params: match.params,
        };
        // Stored now, run later by the serve process's runner (which gives it its invocation id then).
        acceptAsync(
          this.options.store,
          fn,
          match.trigger,
          { method, url, headers: flatHeaders(req), body, route },
          res,
        ).catch((e) => sendText(res, 500, `internal error: ${e instanceof Error ? e.message : e}\n`));
        return;
      }
      const invocation = nextInvocation();
      const id = invocationId(invocation);
      const headers = flatHeaders(req);
      // The function sees its invocation's id (a WAGI function as HTTP_X_WASMLET_INVOCATION_ID); a caller's own
      // header of that name is replaced.
      headers[INVOCATION_ID_HEADER] = id;
      const ireq: InvocationRequest = {
        method,
        url,
        path,
        query: q < 0 ? "" : url.slice(q + 1),
        headers,
        invocation,
        body,
        remoteAddr: req.socket.remoteAddress ?? "",
        remotePort: req.socket.remotePort ?? 0,
        serverName: req.socket.localAddress ?? "localhost",
        serverPort: req.socket.localPort ?? 0,
        protocol: `HTTP/${req.httpVersion}`,
        route: {
          pattern: match.pattern,
          scriptName: match.scriptName,
          pathInfo: match.pathInfo,
          params: match.params,
        },
        cancel: new ClientConnection(res),
        arrivedAt,
      };
      this.options.invoker.invoke(fn, ireq).then(
        (r) => sendResponse(res, r, this.options.outputBudget, id),
        (e) => sendText(res, 500, `internal error: ${e instanceof Error ? e.message : e}\n`),
      );
    };
    // A request without a body runs at once (no wait for the stream's 'end' a tick later).
    collectBody(req, limit, dispatch, () => {
      this.options.onRejected?.(fn, 413);
      finishEarly(req, res);
      const whose = runLater ? "the limit for asynchronous invocations" : "the function's limit";
      sendText(res, 413, `request body is over ${whose} of ${limit} bytes\n`);
    });
  };
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  // A plain object (a null-prototype one is a dictionary from the start: slower to fill and to walk, measured
  // ~4 % of the echo bench's throughput). A header named like an Object.prototype member ("constructor")
  // reads as a function, never a string, so it is not mistaken for a previous value; "__proto__" is defined
  // as an own property, since assigning it would set the prototype instead.
  const out: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const prev = out[name];
    const value = typeof prev === "string" ? `${prev}, ${raw[i + 1]}` : raw[i + 1];
    if (name === "__proto__")
      Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}
