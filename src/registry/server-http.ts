import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import * as http from "../http/index.js";
import { OciError } from "./oci-error.js";

// The /v2 front's HTTP, through the shared toolkit (src/http): only what the distribution spec adds lives here —
// its error envelope `{"errors":[{code,message,detail}]}` with the statuses the spec names, the API version header
// on every answer, Range and `n`/`last` paging.

export const API_VERSION_HEADER = { "docker-distribution-api-version": "registry/2.0" } as const;

export function sendError(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    // Mid-body failures are mostly clients that hung up (a Range probe, a cancelled pull): nothing to report.
    res.destroy();
    return;
  }
  const err = e instanceof OciError ? e : new OciError(500, "UNKNOWN", "internal registry error");
  if (!(e instanceof OciError)) console.error("registry: internal error", e);
  // The unread rest of a body we refused (too large, bad range) is discarded, or the connection closed.
  http.finishEarly(req, res);
  const detail = err.detail !== undefined ? { detail: err.detail } : {};
  http.sendJson(
    res,
    err.status,
    { errors: [{ code: err.code, message: err.message, ...detail }] },
    { ...API_VERSION_HEADER, ...err.headers },
  );
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: OutgoingHttpHeaders = {},
  contentType = "application/json",
): void {
  http.sendJson(res, status, value, { ...API_VERSION_HEADER, "content-type": contentType, ...headers });
}

export function sendEmpty(res: ServerResponse, status: number, headers: OutgoingHttpHeaders = {}): void {
  http.sendEmpty(res, status, { ...API_VERSION_HEADER, ...headers });
}

const sizeInvalid = (limit: number, declared?: number) =>
  new OciError(
    413,
    "SIZE_INVALID",
    declared === undefined
      ? `body is over the ${limit}-byte limit`
      : `body of ${declared} bytes is over the ${limit}-byte limit`,
  );

/** Reads a small body (manifests, token forms), refusing more than `max` bytes with 413 SIZE_INVALID. */
export async function readSmallBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const bytes = await http.readBody(req, max, sizeInvalid);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
