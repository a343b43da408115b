import type { IncomingMessage } from "node:http";
import { WasmletError } from "../core/index.js";

/** What a body over its limit becomes; each server names the failure in its own protocol's terms. */
export type TooLarge = (limit: number, declared?: number) => Error;

const wasmletTooLarge: TooLarge = (limit, declared) =>
  new WasmletError(
    "PAYLOAD_TOO_LARGE",
    declared === undefined
      ? `body: larger than the limit of ${limit} bytes`
      : `body: ${declared} bytes is larger than the limit of ${limit} bytes`,
  );

const EMPTY = new Uint8Array(0);

/**
 * Collects a whole request body with plain callbacks (no async iterator, no promise: the router's hot path).
 * A declared Content-Length over `limit` fails at once; a body that grows past it fails as soon as it does and
 * the rest is discarded (never buffered). Exactly one of the callbacks runs, once. A request without
 * Content-Length and Transfer-Encoding has no body (RFC 9112 §6.3): `onBody` runs synchronously.
 */
export function collectBody(
  req: IncomingMessage,
  limit: number,
  onBody: (body: Uint8Array) => void,
  onTooLarge: (declared?: number) => void,
): void {
  const header = req.headers["content-length"];
  const declared = header === undefined ? 0 : Number(header);
  if (declared > limit) {
    onTooLarge(declared);
    return;
  }
  if (declared === 0 && req.headers["transfer-encoding"] === undefined) {
    onBody(EMPTY);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    if (size > limit) return;
    size += chunk.length;
    if (size > limit) {
      chunks.length = 0;
      onTooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (size > limit) return;
    onBody(chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  });
}

/** The whole body, or `tooLarge(limit)` as soon as it passes `limit` (default: PAYLOAD_TOO_LARGE, 413). */
export function readBody(
  req: IncomingMessage,
  limit: number,
  tooLarge: TooLarge = wasmletTooLarge,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    req.once("error", onError);
    collectBody(
      req,
      limit,
      (body) => {
        req.off("error", onError);
        resolve(body);
      },
      (declared) => {
        req.off("error", onError);
        reject(tooLarge(limit, declared));
      },
    );
  });
}

/** Bodies of this many bytes or more have their shared memory faulted in ahead of their bytes (setBodyPrefault). */
const PREFAULT_MIN_BYTES = 1024 * 1024;

/**
 * How far ahead of the bytes received a body's memory is faulted in: at most PREFAULT_AHEAD_BYTES, and no more
 * than has arrived or PREFAULT_FIRST_BYTES (once the first bytes are there), whichever is more.
 */
const PREFAULT_AHEAD_BYTES = 8 * 1024 * 1024;
const PREFAULT_FIRST_BYTES = 2 * 1024 * 1024;

let prefault: ((bytes: Uint8Array) => Promise<unknown>) | undefined;

/**
 * Gives readSharedBody a way to fault in a large body's pages off the request thread, ahead of the bytes as they
 * arrive (the native addon's `populate`, on libuv's pool: installed by serve). Fresh shared memory faults on the
 * first write of each page, and that write is the request thread's copy of each arriving chunk: for a 30 MB
 * body, 13 ms of copying against 5 ms into memory faulted in before (measured here). Never more memory ahead
 * than has arrived (or 2 MiB) nor than 8 MiB: a client that declares 64 MiB and sends nothing commits nothing.
 */
export function setBodyPrefault(f: ((bytes: Uint8Array) => Promise<unknown>) | undefined): void {
  prefault = f;
}

/**
 * Faults in `out` ahead of `size` received bytes, one request to `populate` at a time; returns the call to make
 * after each chunk.
 */
function prefaulter(
  out: Uint8Array,
  populate: (bytes: Uint8Array) => Promise<unknown>,
): (size: number) => void {
  let ready = 0;
  let busy = false;
  return (size: number) => {
    if (busy || ready >= out.byteLength || ready - size >= PREFAULT_AHEAD_BYTES / 2) return;
    const from = Math.max(ready, size);
    const to = Math.min(
      out.byteLength,
      size + Math.min(Math.max(size, PREFAULT_FIRST_BYTES), PREFAULT_AHEAD_BYTES),
    );
    if (to <= from) return;
    busy = true;
    ready = to;
    // A prefault that fails (or resolves false: a kernel without MADV_POPULATE_WRITE) stays busy: the body is read
    // all the same, its pages faulting as they are written.
    try {
      populate(out.subarray(from, to)).then(
        (done) => {
          if (done !== false) busy = false;
        },
        () => {},
      );
    } catch {
      // (thrown at once: the same)
    }
  };
}

/**
 * The whole body, as readBody reads it, but in a SharedArrayBuffer, written as the body arrives when its length is
 * declared (else copied there once): worker threads then share what it holds instead of copying it, and the
 * chunks are never concatenated. For uploads of large modules, which run on workers first (a 30 MB one: its
 * concatenation and later copy into shared memory took ~140 ms of the request thread here).
 */
export async function readSharedBody(
  req: IncomingMessage,
  limit: number,
  tooLarge: TooLarge = wasmletTooLarge,
): Promise<Uint8Array> {
  return (await readSharedBodyFinding(req, limit, undefined, tooLarge)).body;
}

/**
 * Told after each chunk of a body read into shared memory as it arrives: `body[0, size)` is there and will not
 * change, `found` the matches so far. Must not throw.
 */
export type BodyProgress = (body: Uint8Array, size: number, found: readonly number[]) => void;

/**
 * readSharedBody, also finding every occurrence of `needle` (at most 256 bytes) as the body arrives: the positions,
 * in order, of non-overlapping matches. A multipart body's delimiters are found so while the transfer goes on,
 * where a search of the whole body after it took ~18 ms of the request thread for a 30 MB module here. `onData`
 * follows the body as it arrives when its length is declared (a chunked body is read first, without it).
 */
export function readSharedBodyFinding(
  req: IncomingMessage,
  limit: number,
  needle: Uint8Array | undefined,
  tooLarge: TooLarge = wasmletTooLarge,
  onData?: BodyProgress,
): Promise<{ body: Uint8Array; found: number[] }> {
  const header = req.headers["content-length"];
  const declared = header === undefined ? Number.NaN : Number(header);
  if (!(declared > 0 && declared <= limit) || req.headers["transfer-encoding"] !== undefined)
    return readBody(req, limit, tooLarge).then((body) => {
      const shared = new Uint8Array(new SharedArrayBuffer(body.byteLength));
      shared.set(body);
      const found: number[] = [];
      if (needle) findAll(shared, needle, 0, shared.byteLength, found);
      return { body: shared, found };
    });
  return new Promise((resolve, reject) => {
    const out = new Uint8Array(new SharedArrayBuffer(declared));
    const ahead = declared >= PREFAULT_MIN_BYTES && prefault ? prefaulter(out, prefault) : undefined;
    const found: number[] = [];
    let size = 0;
    // Where the next search starts: a match may straddle two chunks, so it begins up to needle.length - 1 bytes
    // before the new chunk, but never inside a match already found.
    let searched = 0;
    const onError = (e: Error) => reject(e);
    req.once("error", onError);
    // Node's parser ends the body at its Content-Length: it never grows past `declared`.
    req.on("data", (chunk: Buffer) => {
      out.set(chunk, size);
      size += chunk.length;
      ahead?.(size);
      if (needle) searched = findAll(out, needle, searched, size, found);
      onData?.(out, size, found);
    });
    req.once("end", () => {
      req.off("error", onError);
      resolve({ body: size === declared ? out : out.subarray(0, size), found });
    });
  });
}

/**
 * Appends to `found` the matches of `needle` that lie wholly in `bytes[from, to)`; returns where a search that
 * continues once more bytes are there must start.
 */
function findAll(bytes: Uint8Array, needle: Uint8Array, from: number, to: number, found: number[]): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from);
  let at = view.indexOf(needle);
  let next = from;
  while (at >= 0) {
    found.push(from + at);
    next = from + at + needle.length;
    at = view.indexOf(needle, at + needle.length);
  }
  return Math.max(next, to - needle.length + 1, from);
}

/** Reads and parses a JSON body of at most `limit` bytes; an empty body is `{}`. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return parseJson(await readBody(req, limit));
}

/** Parses a JSON body; an empty one is `{}`, anything unparsable INVALID_ARGUMENT naming the problem. */
export function parseJson(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `body: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Bytes of an unread body a server reads and throws away after answering early (a 413, a 404), so that the
 * client, still sending, gets to read the answer and the connection stays usable. Past this, the connection
 * is closed instead: reading more would be doing an attacker's work.
 */
export const DISCARD_LIMIT = 64 * 1024 * 1024;

/**
 * Lets the rest of a body we will not use flow away. Returns false (and the caller should answer with
 * `Connection: close`) when the body is declared larger than DISCARD_LIMIT; a body that turns out larger than
 * that while draining has its connection closed then.
 */
export function discardBody(req: IncomingMessage): boolean {
  if (req.readableEnded || req.complete) return true;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > DISCARD_LIMIT) {
    req.resume();
    return false;
  }
  let seen = 0;
  req.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DISCARD_LIMIT) req.socket?.destroy();
  });
  req.resume();
  return true;
}

/** Reads a body we do not need to its end (an empty one, usually), so the connection can serve the next request. */
export function drainBody(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.complete) return Promise.resolve();
  return new Promise((resolve, reject) => {
    req.once("end", resolve);
    req.once("error", reject);
    req.resume();
  });
}
