import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { API_ERROR_HEADER, toWasmletError } from "../core/index.js";
import { discardBody } from "./body.js";

/** Sends `value` as JSON; `headers` are added (and may override the content type). */
export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** Sends plain text; does nothing once the response has started or its connection is gone. Returns the status sent (0: none). */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
): number {
  if (res.headersSent || res.destroyed) return 0;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
  return status;
}

/** Sends a status with no body (and no Content-Length on a 204 or 304, which cannot have one). */
export function sendEmpty(res: ServerResponse, status: number, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, status === 204 || status === 304 ? headers : { "content-length": 0, ...headers });
  res.end();
}

/**
 * Ends a request that failed before or while its body was read: the unread rest is discarded so the client
 * reads the answer and the connection can serve the next request; one too large to discard gets
 * `Connection: close`.
 */
export function finishEarly(req: IncomingMessage, res: ServerResponse): void {
  if (!discardBody(req) && !res.headersSent) res.setHeader("connection", "close");
}

export interface ErrorOptions {
  /** Overrides the code's status (405 for a method not allowed). */
  status?: number;
  headers?: OutgoingHttpHeaders;
  /** Where an INTERNAL error's cause is reported (the other codes are the caller's business). */
  log?: (line: string) => void;
}

/**
 * Answers with Wasmlet's error envelope `{"error":{"code","message"}}`, the status core/errors.ts maps the
 * code to, and the code in X-Wasmlet-Error (so a client tells the platform's errors from a function's own
 * answer). A response already under way is cut instead: its client must not take half a body for a whole one.
 */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
  opts: ErrorOptions = {},
): void {
  const e = toWasmletError(err);
  if (res.headersSent) {
    res.destroy(e);
    return;
  }
  if (e.code === "INTERNAL") {
    const cause = err instanceof Error ? (err.stack ?? err.message) : String(err);
    (opts.log ?? ((line: string) => console.error(line)))(`wasmlet: internal error: ${cause}`);
  }
  finishEarly(req, res);
  sendJson(res, opts.status ?? e.status, e.toJSON(), { [API_ERROR_HEADER]: e.code, ...opts.headers });
}
