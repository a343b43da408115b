// wasi:http/outgoing-handler for transpiled components: requests go only where the function's allow-list says
// (core/outbound.ts), checked here for the first hop and by the fetch thread for every redirect and every
// resolved address. The guest's thread blocks (Atomics.wait, never the request thread) while a helper thread of
// its own does the I/O.
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { matchOutbound } from "../../core/index.js";
import type { FetchReply, FetchRequest } from "./fetch-worker.js";
import {
  currentInvocation,
  Fields,
  fromMethod,
  IncomingBody,
  type Method,
  OutgoingBody,
} from "./host-http.js";
import { Pollable, ResultError } from "./host-io.js";
import { type Invocation, StopSignal } from "./invocation.js";

/** Largest outbound response body kept; a bigger one fails the request (HTTP-response-body-size). */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** wasi:http `outgoing-request`. */
export class OutgoingRequest {
  private m: Method = { tag: "get" };
  private path: string | undefined;
  private scheme_: { tag: string; val?: string } | undefined;
  private authority_: string | undefined;
  private bodyTaken = false;
  readonly chunks: Uint8Array[] = [];
  constructor(readonly fields: Fields) {}

  body(): OutgoingBody {
    if (this.bodyTaken) throw new ResultError(undefined);
    this.bodyTaken = true;
    return new OutgoingBody(currentInvocation(), (b) => this.chunks.push(b.slice()));
  }
  method(): Method {
    return this.m;
  }
  setMethod(m: Method): void {
    this.m = m;
  }
  pathWithQuery(): string | undefined {
    return this.path;
  }
  setPathWithQuery(p: string | undefined): void {
    this.path = p;
  }
  scheme(): object | undefined {
    return this.scheme_;
  }
  setScheme(s: { tag: string; val?: string } | undefined): void {
    this.scheme_ = s;
  }
  authority(): string | undefined {
    return this.authority_;
  }
  setAuthority(a: string | undefined): void {
    this.authority_ = a;
  }
  headers(): Fields {
    return this.fields;
  }

  /** The URL the request goes to, or undefined when it has no valid scheme and authority. */
  url(): URL | undefined {
    const s = this.scheme_ ?? { tag: "HTTPS" };
    const scheme = s.tag === "other" ? (s.val ?? "").toLowerCase() : s.tag.toLowerCase();
    if ((scheme !== "http" && scheme !== "https") || !this.authority_) return undefined;
    try {
      return new URL(`${scheme}://${this.authority_}${this.path ?? "/"}`);
    } catch {
      return undefined;
    }
  }
}

/** wasi:http `request-options`: the timeouts are kept (ns) and bounded by the run's deadline anyway. */
export class RequestOptions {
  private readonly t: Record<string, bigint | undefined> = {};
  connectTimeout(): bigint | undefined {
    return this.t.connect;
  }
  setConnectTimeout(v: bigint | undefined): void {
    this.t.connect = v;
  }
  firstByteTimeout(): bigint | undefined {
    return this.t.first;
  }
  setFirstByteTimeout(v: bigint | undefined): void {
    this.t.first = v;
  }
  betweenBytesTimeout(): bigint | undefined {
    return this.t.between;
  }
  setBetweenBytesTimeout(v: bigint | undefined): void {
    this.t.between = v;
  }
}

/** wasi:http `incoming-response`. */
export class IncomingResponse {
  private consumed = false;
  constructor(
    private readonly inv: Invocation,
    private readonly code: number,
    private readonly fields: Fields,
    private readonly data: Uint8Array,
  ) {}
  status(): number {
    return this.code;
  }
  headers(): Fields {
    return this.fields;
  }
  consume(): IncomingBody {
    if (this.consumed) throw new ResultError(undefined);
    this.consumed = true;
    return new IncomingBody(this.inv, this.data);
  }
}

/** wasi:http `future-incoming-response`: the request is sent when the guest first waits for or asks for it. */
export class FutureIncomingResponse {
  private reply: FetchReply | undefined;
  private taken = false;
  private readonly cell = new Int32Array(new SharedArrayBuffer(4));
  private sent = false;
  constructor(
    private readonly inv: Invocation,
    private readonly request: FetchRequest,
  ) {}

  private id = 0;

  private poll(): boolean {
    if (!this.sent) {
      this.sent = true;
      this.id = fetcher().send(this.request, this.cell);
    }
    if (!this.reply && Atomics.load(this.cell, 0) !== 0) this.reply = fetcher().take(this.id);
    return this.reply !== undefined;
  }

  subscribe(): Pollable {
    return new Pollable(this.inv, () => this.poll(), Number.POSITIVE_INFINITY, this.cell);
  }

  get(): object | undefined {
    if (!this.poll()) return undefined;
    if (this.taken) return { tag: "err", val: undefined };
    this.taken = true;
    const r = this.reply as FetchReply;
    if (r.refused) this.inv.log(r.refused);
    if (r.error) return { tag: "ok", val: { tag: "err", val: r.error } };
    const fields = Fields.frozen(r.headers ?? []);
    return {
      tag: "ok",
      val: {
        tag: "ok",
        val: new IncomingResponse(this.inv, r.status ?? 0, fields, r.body ?? new Uint8Array(0)),
      },
    };
  }
}

/** wasi:http/outgoing-handler, for the run in progress. */
export function outgoingHandler(): {
  handle: (r: OutgoingRequest, o?: RequestOptions) => FutureIncomingResponse;
} {
  return {
    handle(req: OutgoingRequest): FutureIncomingResponse {
      const inv = currentInvocation();
      const url = req.url();
      if (!url) throw new ResultError({ tag: "HTTP-request-URI-invalid" });
      const scheme = url.protocol.slice(0, -1);
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
      const port = Number(url.port || (scheme === "https" ? 443 : 80));
      // The response is waited for: not on the request thread (the run goes on a worker from the start).
      if (!inv.waiter) throw new StopSignal("budget");
      if (!matchOutbound(inv.outbound, scheme, host, port)) {
        inv.log(
          `wasmlet: outbound request to ${url.origin} refused: not in the function's allow-list (allowOutbound)`,
        );
        throw new ResultError({ tag: "HTTP-request-denied" });
      }
      let size = 0;
      for (const c of req.chunks) size += c.length;
      const body = new Uint8Array(size);
      size = 0;
      for (const c of req.chunks) {
        body.set(c, size);
        size += c.length;
      }
      return new FutureIncomingResponse(inv, {
        method: fromMethod(req.method()),
        url: url.href,
        headers: req.fields.toPairs(),
        body,
        rules: inv.outbound.map((r) => r.pattern),
        timeoutMs: Math.max(0, inv.deadlineAt - performance.now()),
        maxBytes: MAX_RESPONSE_BYTES,
      });
    },
  };
}

/** The helper thread that does this thread's outbound I/O, started on first use. */
class Fetcher {
  private readonly port: MessagePort;
  private readonly worker: Worker;
  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL("./fetch-worker.js", import.meta.url), {
      workerData: { port: port2 },
      transferList: [port2],
    });
    this.worker.unref();
  }
  private nextId = 1;
  private readonly replies = new Map<number, FetchReply>();

  /** Starts a request; `cell[0]` becomes 1 (and is notified) when its reply can be taken. */
  send(req: FetchRequest, cell: Int32Array): number {
    const id = this.nextId++;
    this.port.postMessage({ id, req, cell: cell.buffer });
    return id;
  }

  /** The reply to request `id`, once its cell is set. */
  take(id: number): FetchReply | undefined {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const reply = m.message as FetchReply;
      this.replies.set(reply.id, reply);
    }
    const reply = this.replies.get(id);
    this.replies.delete(id);
    return reply;
  }
}

let theFetcher: Fetcher | undefined;
function fetcher(): Fetcher {
  theFetcher ??= new Fetcher();
  return theFetcher;
}
