import type { IncomingMessage, ServerResponse } from "node:http";
import { OciError } from "./oci-error.js";

// The /v2 front's HTTP helpers, all in this one file so that a shared toolkit can replace them in one place.

export const API_VERSION_HEADER = { "docker-distribution-api-version": "registry/2.0" } as const;

export function sendError(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    // Mid-body failures are mostly clients that hung up (a Range probe, a cancelled pull): nothing to report.
    res.destroy();
    return;
  }
  const err = e instanceof OciError ? e : new OciError(500, "UNKNOWN", "internal registry error");
  if (!(e instanceof OciError)) console.error("registry: internal error", e);
  const body = JSON.stringify({
    errors: [
      { code: err.code, message: err.message, ...(err.detail !== undefined ? { detail: err.detail } : {}) },
    ],
  });
  const headers: Record<string, string | number> = {
    ...API_VERSION_HEADER,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...err.headers,
  };
  // A body we stopped reading (too large, bad range) must not be read to its end: drop the connection after.
  if (!req.complete) headers.connection = "close";
  res.writeHead(err.status, headers);
  res.end(req.method === "HEAD" ? undefined : body);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
  contentType = "application/json",
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...API_VERSION_HEADER,
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendEmpty(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number> = {},
): void {
  res.writeHead(status, { ...API_VERSION_HEADER, "content-length": 0, ...headers });
  res.end();
}

/** Reads a small body (manifests), refusing more than `max` bytes with 413. */
export async function readSmallBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > max)
    throw new OciError(413, "SIZE_INVALID", `body of ${declared} bytes is over the ${max}-byte limit`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of req) {
    total += (c as Buffer).length;
    if (total > max) throw new OciError(413, "SIZE_INVALID", `body is over the ${max}-byte limit`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drains a body we do not need, so the connection can be reused. */
export async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // discard
  }
}

/** Parses a single `Range: bytes=a-b` (or `a-`, `-n`) against a size; undefined = whole; null = unsatisfiable. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | null {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return null;
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return null;
  return { start, end };
}

/** `n` and `last` of a paginated list; returns the page and the Link header for the next one. */
export function paginate(
  all: string[],
  query: URLSearchParams,
  link: (n: number, last: string) => string,
): { page: string[]; headers: Record<string, string> } {
  const last = query.get("last");
  let rest = last ? all.filter((x) => x > last) : all;
  const nRaw = query.get("n");
  if (nRaw === null || nRaw === "") return { page: rest, headers: {} };
  const n = Number(nRaw);
  if (!Number.isInteger(n) || n < 0)
    throw new OciError(400, "UNSUPPORTED", `n: "${nRaw}" is not a non-negative integer`);
  if (n === 0) return { page: [], headers: {} };
  const more = rest.length > n;
  rest = rest.slice(0, n);
  return { page: rest, headers: more ? { link: `<${link(n, rest[rest.length - 1])}>; rel="next"` } : {} };
}
