import type { InvocationRequest, InvocationTrigger } from "../runtime/index.js";

/** What a trigger delivers to a function, as the HTTP request the function's contract expects. */
export interface TriggerEvent {
  trigger: InvocationTrigger;
  method: string;
  /** Path and query the function sees, e.g. `/` or `/jobs?full=1`. */
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** CloudEvents `type` and `source` attributes, e.g. `dev.wasmlet.timer` and `/timers/nightly`. */
  type: string;
  source: string;
  /** When the event happened (a timer's due time, a message's publish time). */
  time: Date;
  /** How a route matched the path (asynchronous invocations); default: the whole path, no parameters. */
  route?: InvocationRequest["route"];
}

/**
 * The invocation request for a trigger event: the event as an HTTP request, with CloudEvents binary-mode
 * attributes (`ce-*` headers) and `req.trigger` set, so the runtime logs it and the contracts tell the function.
 */
export function triggerRequest(e: TriggerEvent): InvocationRequest {
  const q = e.url.indexOf("?");
  const path = q < 0 ? e.url : e.url.slice(0, q);
  const headers: Record<string, string> = {
    ...e.headers,
    "ce-specversion": "1.0",
    "ce-id": e.trigger.id,
    "ce-source": e.source,
    "ce-type": e.type,
    "ce-time": e.time.toISOString(),
    "x-wasmlet-trigger": e.trigger.kind,
    "x-wasmlet-attempt": String(e.trigger.attempt),
  };
  return {
    method: e.method,
    url: e.url,
    path,
    query: q < 0 ? "" : e.url.slice(q + 1),
    headers,
    body: e.body,
    remoteAddr: "127.0.0.1",
    remotePort: 0,
    serverName: "localhost",
    serverPort: 0,
    protocol: "HTTP/1.1",
    route: e.route ?? { pattern: path, scriptName: "", pathInfo: path, params: {} },
    trigger: e.trigger,
  };
}
