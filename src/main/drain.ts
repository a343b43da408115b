import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import { HEALTH_PATH, LIVE_PATH, READY_PATH, WasmletError } from "../core/index.js";
import { sendError, sendText, splitTarget } from "../http/index.js";

/** What a drain left behind. */
export interface DrainReport {
  /** Requests still running when the timeout came: their connections were closed under them. */
  cut: number;
  /** Milliseconds the drain took. */
  ms: number;
}

/**
 * The responses in flight, in slots of an array with a free list (its slot kept on the response), not a Set: a
 * Set that every request adds to and deletes from is rehashed every few dozen requests, and V8 allocates the new
 * table of a Set in the old generation when the Set is there (a long-lived one is). Under load that was the
 * largest allocation of the old generation: in BENCH=tails windows that met no target, after a backlog had grown
 * the table, 2-3 MB/s of them and up to ~75 MB/s, a mark-compact every 1-4 s, each a 15-25 ms stall of the request
 * thread (heap sampling profile: `Set.prototype.delete` in `onClose`, 24 MB of the 61 MB sampled). The array only
 * grows, to the most responses ever in flight at once, and adding or removing one allocates nothing.
 */
class OpenResponses {
  readonly #slots: (ServerResponse | undefined)[] = [];
  readonly #free: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(res: ServerResponse): void {
    const i = this.#free.length > 0 ? (this.#free.pop() as number) : this.#slots.length;
    this.#slots[i] = res;
    (res as Slotted)[SLOT] = i;
    this.#size++;
  }

  delete(res: ServerResponse): void {
    const i = (res as Slotted)[SLOT];
    if (i === undefined || this.#slots[i] !== res) return;
    this.#slots[i] = undefined;
    (res as Slotted)[SLOT] = undefined;
    this.#free.push(i);
    this.#size--;
  }

  *[Symbol.iterator](): Generator<ServerResponse> {
    for (const res of this.#slots) if (res) yield res;
  }
}

/** Where a response sits in OpenResponses. */
const SLOT = Symbol("wasmlet.drain.slot");
type Slotted = ServerResponse & { [SLOT]?: number };

/**
 * The probes and the graceful stop of a process's listeners. `wrap` puts the probes in front of a listener and
 * counts its requests; `drain` turns readiness (`/readyz`, `/healthz`) to 503 at once, stops accepting
 * connections, lets the requests in flight finish up to a timeout — each answered with `Connection: close`, and a
 * kept-alive connection closed as soon as it is idle; server-sent event streams end at once —, then closes
 * whatever is left. `/livez` answers 200 throughout: a draining process is alive, and a liveness failure would
 * have it killed before it is done.
 */
export class Drain {
  #draining = false;
  readonly #open = new OpenResponses();
  readonly #servers = new Set<Server>();
  /** Resolves once every server has closed (set by the first drain). */
  #closed: Promise<void> | undefined;
  /** Called when a response ends while draining. */
  #onEnd: (() => void) | undefined;
  /** One listener for every response (no closure per request: this is the router's request path). */
  readonly #ended = (res: ServerResponse) => {
    this.#open.delete(res);
    this.#onEnd?.();
  };

  /** True from the moment `drain` is called. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Includes `server` in the drain: it stops listening and its idle connections are closed. */
  add<S extends Server>(server: S): S {
    this.#servers.add(server);
    return server;
  }

  /** `inner` with the probes in front of it and its responses counted. */
  wrap(inner: RequestListener): RequestListener {
    const ended = this.#ended;
    function onClose(this: ServerResponse) {
      ended(this);
    }
    return (req, res) => {
      const url = req.url ?? "/";
      // Three prefix checks and no parsing for every other request.
      if (url.startsWith(LIVE_PATH) || url.startsWith(READY_PATH) || url.startsWith(HEALTH_PATH))
        if (this.#probe(req, res, splitTarget(url).path)) return;
      if (this.#draining) res.shouldKeepAlive = false;
      this.#open.add(res);
      res.on("close", onClose);
      inner(req, res);
    };
  }

  /** Answers a probe; false when `path` is none it answers here (`/healthz` while serving is the listener's). */
  #probe(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path === LIVE_PATH) {
      sendText(res, 200, "ok\n");
      return true;
    }
    if (path !== READY_PATH && path !== HEALTH_PATH) return false;
    if (this.#draining) {
      // Readiness goes to 503 at once: load balancers stop sending before the requests in flight are done.
      res.shouldKeepAlive = false;
      sendError(req, res, new WasmletError("UNAVAILABLE", "the server is draining: it is stopping"));
      return true;
    }
    if (path === HEALTH_PATH) return false;
    sendText(res, 200, "ok\n");
    return true;
  }

  /**
   * Stops the servers gracefully: resolves once every request in flight has ended and every connection is
   * closed, or at `timeoutMs`, when the rest are closed under their requests (counted as cut). A second call
   * closes everything at once.
   */
  async drain(timeoutMs: number): Promise<DrainReport> {
    const started = performance.now();
    if (this.#closed) timeoutMs = 0;
    this.#draining = true;
    // Responses whose headers are not out yet end their connection; the others' connections close once idle.
    // An event stream (the dashboard's) never ends by itself: it ends now, and its client reconnects elsewhere.
    for (const res of this.#open)
      if (!res.headersSent) res.shouldKeepAlive = false;
      else if (String(res.getHeader("content-type") ?? "").startsWith("text/event-stream")) res.end();
    this.#closed ??= Promise.all(
      [...this.#servers].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.listening) return resolve();
            s.close(() => resolve());
          }),
      ),
    ).then(() => undefined);
    const closeIdle = () => {
      for (const s of this.#servers) s.closeIdleConnections();
    };
    closeIdle();
    // A response that ends leaves its connection idle: close it on the next turn, once node has marked it so.
    this.#onEnd = () => setImmediate(closeIdle);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([this.#closed, timedOut]);
    clearTimeout(timer);
    let cut = 0;
    if (outcome === "timeout") {
      cut = this.#open.size;
      for (const s of this.#servers) s.closeAllConnections();
      await this.#closed;
    }
    return { cut, ms: Math.round(performance.now() - started) };
  }
}
