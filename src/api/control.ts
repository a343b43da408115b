import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { WasmletError } from "../core/index.js";
import { sendError } from "../http/index.js";

/** The control API's handler: true when it answered (`/healthz`, `/api/v1/...`), false for any other path. */
export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Another front on the control port (the embedded registry's /v2, /metrics): answers synchronously whether it took the request. */
export interface ControlFront {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * The control port's request listener, as `serve` runs it and the tests build it: the other fronts first (the
 * registry's /v2, which checks the token itself and answers the token flow OCI clients follow; /metrics), then
 * the API, then a 404 in the API's envelope. `api` is read per request: the server may listen before the API is wired (503 UNAVAILABLE until
 * then), since the API needs the port's own address.
 */
export function controlListener(parts: {
  fronts?: ControlFront[];
  api: () => ApiHandler | undefined;
  log?: (line: string) => void;
}): RequestListener {
  const { fronts = [], log } = parts;
  return (req, res) => {
    for (const front of fronts) if (front.handle(req, res)) return;
    const api = parts.api();
    if (!api) {
      sendError(req, res, new WasmletError("UNAVAILABLE", "the control API is starting; retry"), {
        headers: { "retry-after": "1" },
      });
      return;
    }
    api(req, res).then(
      (handled) => {
        if (!handled)
          sendError(req, res, new WasmletError("NOT_FOUND", `path: no endpoint at ${req.method} ${req.url}`));
      },
      (e) => sendError(req, res, e, { log }),
    );
  };
}
