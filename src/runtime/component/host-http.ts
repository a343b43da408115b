// wasi:http/types for transpiled components: the incoming request of a run, the response it sets, and the
// resources of outbound requests (sent by outgoing.ts). Bodies are whole byte arrays: a request body is read
// (bounded) before the run, a response body is collected (bounded by the output limit) and answered after it.

import type { HttpRequestHead } from "../types.js";
import { InputStream, type IoError, OutputStream, Pollable, ResultError, readyPollable } from "./host-io.js";
import type { Invocation } from "./invocation.js";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Invalid header values: control characters other than tab. */
function badValue(v: Uint8Array): boolean {
  for (const b of v) if ((b < 0x20 && b !== 0x09) || b === 0x7f) return true;
  return false;
}

/** wasi:http `fields` (headers and trailers): names lower-cased, values as bytes, in order. */
export class Fields {
  entriesList: [string, Uint8Array][] = [];
  immutable = false;

  static fromList(list: [string, Uint8Array][]): Fields {
    const f = new Fields();
    for (const [name, value] of list) {
      if (!TOKEN.test(name) || badValue(value)) throw new ResultError({ tag: "invalid-syntax" });
      f.entriesList.push([name.toLowerCase(), value]);
    }
    return f;
  }

  /** Read-only fields from what the router received (already lower-case names). */
  static frozen(list: readonly [string, string][]): Fields {
    const f = new Fields();
    for (const [name, value] of list) f.entriesList.push([name, Buffer.from(value, "latin1")]);
    f.immutable = true;
    return f;
  }

  private mutable(name: string): string {
    if (this.immutable) throw new ResultError({ tag: "immutable" });
    if (!TOKEN.test(name)) throw new ResultError({ tag: "invalid-syntax" });
    return name.toLowerCase();
  }

  get(name: string): Uint8Array[] {
    const n = name.toLowerCase();
    return this.entriesList.filter(([k]) => k === n).map(([, v]) => v);
  }

  has(name: string): boolean {
    const n = name.toLowerCase();
    return this.entriesList.some(([k]) => k === n);
  }

  set(name: string, values: Uint8Array[]): void {
    const n = this.mutable(name);
    if (values.some(badValue)) throw new ResultError({ tag: "invalid-syntax" });
    this.entriesList = this.entriesList.filter(([k]) => k !== n);
    for (const v of values) this.entriesList.push([n, v.slice()]);
  }

  delete(name: string): void {
    const n = this.mutable(name);
    this.entriesList = this.entriesList.filter(([k]) => k !== n);
  }

  append(name: string, value: Uint8Array): void {
    const n = this.mutable(name);
    if (badValue(value)) throw new ResultError({ tag: "invalid-syntax" });
    this.entriesList.push([n, value.slice()]);
  }

  entries(): [string, Uint8Array][] {
    return this.entriesList.map(([k, v]) => [k, v]);
  }

  clone(): Fields {
    const f = new Fields();
    f.entriesList = this.entries();
    return f;
  }

  /** As node takes them: latin1 strings (read from the values in place: Buffer.from(v) would copy each). */
  toPairs(): [string, string][] {
    return this.entriesList.map(([k, v]) => [
      k,
      Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("latin1"),
    ]);
  }
}

export type Method = { tag: string; val?: string };
const METHODS: Readonly<Record<string, string>> = {
  GET: "get",
  HEAD: "head",
  POST: "post",
  PUT: "put",
  DELETE: "delete",
  CONNECT: "connect",
  OPTIONS: "options",
  TRACE: "trace",
  PATCH: "patch",
};

export function toMethod(m: string): Method {
  const tag = METHODS[m];
  return tag ? { tag } : { tag: "other", val: m };
}

export function fromMethod(m: Method): string {
  return m.tag === "other" ? (m.val ?? "GET") : m.tag.toUpperCase();
}

/** wasi:http `incoming-body`: a body already in memory. */
export class IncomingBody {
  private streamed = false;
  constructor(
    private readonly inv: Invocation,
    private readonly data: Uint8Array,
  ) {}

  stream(): InputStream {
    if (this.streamed) throw new ResultError(undefined);
    this.streamed = true;
    return new InputStream(this.inv, this.data);
  }

  static finish(body: IncomingBody): FutureTrailers {
    return new FutureTrailers(body.inv);
  }
}

/** wasi:http `future-trailers`: there are never trailers. */
export class FutureTrailers {
  private taken = false;
  constructor(private readonly inv: Invocation) {}
  subscribe(): Pollable {
    return readyPollable(this.inv);
  }
  get(): object {
    if (this.taken) return { tag: "err", val: undefined };
    this.taken = true;
    return { tag: "ok", val: { tag: "ok", val: undefined } };
  }
}

/** wasi:http `incoming-request`. */
export class IncomingRequest {
  private consumed = false;
  /** Made when the guest first asks: a handler that never reads the headers costs no copy of them. */
  private fields: Fields | undefined;
  constructor(
    private readonly inv: Invocation,
    private readonly head: HttpRequestHead,
    private readonly body: Uint8Array,
  ) {}
  method(): Method {
    return toMethod(this.head.method);
  }
  pathWithQuery(): string {
    return this.head.pathWithQuery;
  }
  scheme(): object {
    return { tag: "HTTP" };
  }
  authority(): string {
    return this.head.authority;
  }
  headers(): Fields {
    this.fields ??= Fields.frozen(this.head.headers);
    return this.fields;
  }
  consume(): IncomingBody {
    if (this.consumed) throw new ResultError(undefined);
    this.consumed = true;
    return new IncomingBody(this.inv, this.body);
  }
}

/** wasi:http `outgoing-body`: bytes written go to `sink`. */
export class OutgoingBody {
  private written = false;
  finished = false;
  constructor(
    private readonly inv: Invocation,
    private readonly sink: (b: Uint8Array) => void,
  ) {}
  write(): OutputStream {
    if (this.written) throw new ResultError(undefined);
    this.written = true;
    return new OutputStream(this.inv, (b) => {
      if (this.finished) throw new ResultError({ tag: "closed" });
      this.sink(b);
    });
  }
  static finish(body: OutgoingBody): void {
    body.finished = true;
  }
}

/** wasi:http `outgoing-response`: its body goes to the run's stdout collector (bounded by the output limit). */
export class OutgoingResponse {
  status = 200;
  private bodyTaken = false;
  constructor(readonly fields: Fields) {}
  statusCode(): number {
    return this.status;
  }
  setStatusCode(code: number): void {
    if (code < 100 || code > 599) throw new ResultError(undefined);
    this.status = code;
  }
  headers(): Fields {
    return this.fields;
  }
  body(): OutgoingBody {
    if (this.bodyTaken) throw new ResultError(undefined);
    this.bodyTaken = true;
    const inv = current;
    if (!inv) throw new Error("no invocation is running");
    return new OutgoingBody(inv, (b) => inv.stdout.push(b));
  }
}

/** The run in progress on this thread (one at a time): constructors the guest calls cannot be given it. */
let current: Invocation | undefined;

/** What the guest answered through `response-outparam.set`. */
export interface HttpAnswer {
  response?: OutgoingResponse;
  /** The error code the guest set instead of a response. */
  error?: unknown;
}

/** wasi:http `response-outparam`. */
export class ResponseOutparam {
  constructor(readonly answer: HttpAnswer) {}
  static set(param: ResponseOutparam, result: { tag: "ok" | "err"; val: unknown }): void {
    if (param.answer.response || param.answer.error !== undefined)
      throw new Error("response-outparam.set called twice");
    if (result.tag === "ok") param.answer.response = result.val as OutgoingResponse;
    else param.answer.error = result.val ?? "error";
  }
}

/** Marks the run in progress, for resources the guest constructs. */
export function enterInvocation(inv: Invocation | undefined): void {
  current = inv;
}

export function currentInvocation(): Invocation {
  if (!current) throw new Error("no invocation is running");
  return current;
}

export function httpErrorCode(_err: IoError): undefined {
  return undefined;
}

export { Pollable };
