import type { IncomingMessage, ServerResponse } from "node:http";
import { API_ERROR_HEADER, toWasmletError, WasmletError } from "../core/index.js";

/** Largest JSON body the control API accepts (a base64 module of ~48 MiB fits). */
export const MAX_API_BODY_BYTES = 64 * 1024 * 1024;

/** Reads the whole body, failing with PAYLOAD_TOO_LARGE as soon as it passes `limit` (never buffers more). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): WasmletError {
  return new WasmletError("PAYLOAD_TOO_LARGE", `body: larger than the limit of ${limit} bytes`);
}

/** Reads and parses a JSON body; an empty body is `{}`. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const bytes = await readBody(req, MAX_API_BODY_BYTES);
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `body: not valid JSON (${(e as Error).message})`);
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/** Answers with the error envelope `{"error":{"code","message"}}`; `status` overrides the code's (405). */
export function sendError(
  res: ServerResponse,
  err: unknown,
  status?: number,
  headers?: Record<string, string>,
): void {
  const e = toWasmletError(err);
  if (res.headersSent) {
    res.destroy(e);
    return;
  }
  if (e.code === "INTERNAL") console.error("wasmlet api: internal error:", err);
  res.setHeader("connection", e.code === "PAYLOAD_TOO_LARGE" ? "close" : "keep-alive");
  res.setHeader(API_ERROR_HEADER, e.code);
  for (const [k, v] of Object.entries(headers ?? {})) res.setHeader(k, v);
  sendJson(res, status ?? e.status, e.toJSON());
}
