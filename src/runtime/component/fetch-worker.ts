// Entry of the helper thread that makes a component worker's outbound HTTP requests. Every hop (the first and
// each redirect) is checked against the function's allow-list, and every address a name resolves to is checked
// before a connection is made: loopback, link-local and metadata addresses only for an exact allow-list entry.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { type MessagePort, workerData } from "node:worker_threads";
import { isGuardedAddress, matchOutbound, type OutboundRule, parseOutboundRule } from "../../core/index.js";

/** One outbound request as the component worker hands it over. */
export interface FetchRequest {
  method: string;
  url: string;
  headers: [string, string][];
  body: Uint8Array;
  /** The function's allow-list, as written. */
  rules: string[];
  timeoutMs: number;
  maxBytes: number;
}

/** The outcome: a response, or a wasi:http error-code (and, when refused, the line for the function's log). */
export interface FetchReply {
  id: number;
  status?: number;
  headers?: [string, string][];
  body?: Uint8Array;
  error?: { tag: string; val?: unknown };
  refused?: string;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const DENIED = { tag: "HTTP-request-denied" };

const port = (workerData as { port: MessagePort }).port;
port.on("message", (msg: { id: number; req: FetchRequest; cell: SharedArrayBuffer }) => {
  void fetchAll(msg.req).then(
    (reply) => deliver(msg, reply),
    (e) => deliver(msg, { id: 0, error: { tag: "internal-error", val: String(e) } }),
  );
});

function deliver(msg: { id: number; cell: SharedArrayBuffer }, reply: FetchReply): void {
  reply.id = msg.id;
  const transfer = reply.body && reply.body.byteLength > 0 ? [reply.body.buffer as ArrayBuffer] : [];
  port.postMessage(reply, transfer);
  const cell = new Int32Array(msg.cell);
  Atomics.store(cell, 0, 1);
  Atomics.notify(cell, 0);
}

async function fetchAll(req: FetchRequest): Promise<FetchReply> {
  const rules = req.rules.map((r) => parseOutboundRule(r));
  const deadline = Date.now() + req.timeoutMs;
  let url = new URL(req.url);
  let method = req.method;
  let body = req.body;
  for (let hop = 0; ; hop++) {
    const scheme = url.protocol.slice(0, -1);
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    const port = Number(url.port || (scheme === "https" ? 443 : 80));
    const rule = matchOutbound(rules, scheme, host, port);
    if (!rule)
      return refused(
        `outbound request to ${url.origin} refused: not in the function's allow-list (allowOutbound)${hop > 0 ? ` (redirect ${hop})` : ""}`,
      );
    if (!rule.exact && isIP(host) && isGuardedAddress(host))
      return refused(
        `outbound request to ${url.origin} refused: a loopback, link-local or metadata address needs an exact allow-list entry`,
      );
    const res = await once(url, method, req.headers, body, rule, deadline, req.maxBytes);
    if ("error" in res) return res as FetchReply;
    const location = res.headers?.find(([k]) => k === "location")?.[1];
    if (!REDIRECTS.has(res.status ?? 0) || !location) return res;
    if (hop >= MAX_REDIRECTS) return { id: 0, error: { tag: "HTTP-protocol-error" } };
    url = new URL(location, url);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      method = "GET";
      body = new Uint8Array(0);
    }
  }
}

function refused(line: string): FetchReply {
  return { id: 0, error: DENIED, refused: `wasmlet: ${line}` };
}

function once(
  url: URL,
  method: string,
  headers: [string, string][],
  body: Uint8Array,
  rule: OutboundRule,
  deadline: number,
  maxBytes: number,
): Promise<FetchReply> {
  return new Promise((resolve) => {
    let guardHit = false;
    const lookup = (
      hostname: string,
      opts: object,
      cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
    ): void => {
      dnsLookup(hostname, opts as { all: true }, (err, addresses) => {
        if (err) return cb(err, []);
        const list = Array.isArray(addresses) ? addresses : [addresses as unknown as LookupAddress];
        if (!rule.exact && list.some((a) => isGuardedAddress(a.address))) {
          guardHit = true;
          return cb(new Error("guarded address"), []);
        }
        if ((opts as { all?: boolean }).all) cb(null, list);
        else cb(null, list[0].address, list[0].family);
      });
    };
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    // An object (node's flat array form sends no Host header); Host is the URL's, whatever the guest set.
    const byName: Record<string, string | string[]> = { host: url.host };
    for (const [k, v] of headers)
      if (k !== "host" && k !== "content-length") {
        const had = byName[k];
        byName[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
      }
    const r = send(url, {
      method,
      headers: byName,
      lookup,
      timeout: Math.max(1, deadline - Date.now()),
    } as object);
    r.on("response", (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          res.destroy();
          resolve({ id: 0, error: { tag: "HTTP-response-body-size", val: BigInt(size) } });
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => {
        const pairs: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          pairs.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
        resolve({
          id: 0,
          status: res.statusCode,
          headers: pairs,
          body: new Uint8Array(Buffer.concat(chunks)),
        });
      });
      res.on("error", (e) => resolve({ id: 0, error: errorCode(e) }));
    });
    r.on("timeout", () => r.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
    r.on("error", (e: NodeJS.ErrnoException) => {
      if (guardHit)
        resolve(
          refused(
            `outbound request to ${url.origin} refused: it resolves to a loopback, link-local or metadata address, which needs an exact allow-list entry`,
          ),
        );
      else resolve({ id: 0, error: errorCode(e) });
    });
    r.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}

/** A node error as a wasi:http error-code. */
function errorCode(e: NodeJS.ErrnoException): { tag: string; val?: unknown } {
  switch (e.code) {
    case "ECONNREFUSED":
      return { tag: "connection-refused" };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return { tag: "DNS-error", val: { rcode: e.code, infoCode: undefined } };
    case "ETIMEDOUT":
      return { tag: "connection-timeout" };
    case "ECONNRESET":
      return { tag: "connection-terminated" };
    default:
      return { tag: "internal-error", val: e.message };
  }
}
