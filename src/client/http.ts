import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";

/**
 * One HTTP exchange of the client, on node:http. Not the global fetch: its first call loads and starts undici,
 * which made a CLI command (`fn list`) take ~0.4 s longer than the same request through node:http here.
 */
export interface Reply {
  readonly status: number;
  readonly ok: boolean;
  /** Header pairs as sent, names lower-cased, hop-by-hop ones removed. */
  readonly headers: readonly [string, string][];
  readonly body: Uint8Array;
  /** The first value of header `name` (lower case). */
  header(name: string): string | undefined;
  text(): string;
  json(): unknown;
}

export interface Exchange {
  method: string;
  headers: Record<string, string>;
  /** The body; as pieces, it is written piece by piece (a large module is not copied into one buffer first). */
  body?: string | Uint8Array | readonly Uint8Array[];
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

function reply(res: IncomingMessage, body: Uint8Array): Reply {
  const headers: [string, string][] = [];
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!HOP_BY_HOP.has(name)) headers.push([name, raw[i + 1]]);
  }
  const status = res.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    headers,
    body,
    header: (name) => headers.find(([k]) => k === name)?.[1],
    text: () => Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"),
    json() {
      return JSON.parse(this.text());
    },
  };
}

/** Sends one request to `url` (http or https) and reads the whole answer; rejects with node's network error. */
export async function exchange(url: string, ex: Exchange): Promise<Reply> {
  const target = new URL(url);
  const send =
    target.protocol === "https:" ? (await import("node:https")).request : (httpRequest as typeof httpRequest);
  const pieces =
    ex.body === undefined
      ? undefined
      : typeof ex.body === "string"
        ? [Buffer.from(ex.body)]
        : [ex.body].flat();
  let length = 0;
  for (const p of pieces ?? []) length += p.byteLength;
  const opts: RequestOptions = {
    method: ex.method,
    headers: pieces ? { ...ex.headers, "content-length": String(length) } : ex.headers,
  };
  return new Promise<Reply>((resolve, reject) => {
    const req = send(target, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(reply(res, new Uint8Array(Buffer.concat(chunks)))));
      res.on("error", reject);
    });
    req.on("error", reject);
    for (const p of pieces ?? []) req.write(p);
    req.end();
  });
}
