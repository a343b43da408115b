import type { Digest } from "./digest.js";
import type { ValueRef } from "./values.js";

/** Limits that bound one function's invocations. */
export interface Limits {
  /** Cap on the instance's linear memory, in MiB. */
  memoryMiB: number;
  /** Wall-clock deadline of one invocation, in ms. */
  timeoutMs: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /**
   * Most invocations of the function running at once in one process; more wait in its queue. Absent in
   * records stored before the field existed: read through `limitsOf`.
   */
  concurrency?: number;
  /** Most invocations waiting for a turn; past it, 503 with Retry-After. */
  queue?: number;
  /** Most bytes an invocation may write to stdout; over it the invocation fails (500), never a cut body. */
  maxOutputBytes?: number;
}

export const DEFAULT_LIMITS: Readonly<Required<Limits>> = Object.freeze({
  memoryMiB: 128,
  timeoutMs: 10_000,
  maxBodyBytes: 6 * 1024 * 1024,
  concurrency: 64,
  queue: 256,
  maxOutputBytes: 32 * 1024 * 1024,
});

/** A function's limits with every default filled in (records may predate some fields). */
export function limitsOf(fn: { limits: Limits }): Required<Limits> {
  const l = fn.limits;
  return {
    memoryMiB: l.memoryMiB,
    timeoutMs: l.timeoutMs,
    maxBodyBytes: l.maxBodyBytes,
    concurrency: l.concurrency ?? DEFAULT_LIMITS.concurrency,
    queue: l.queue ?? DEFAULT_LIMITS.queue,
    maxOutputBytes: l.maxOutputBytes ?? DEFAULT_LIMITS.maxOutputBytes,
  };
}

export const CONTRACT_NAMES = ["command", "wagi", "http"] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];
/** The contract of a function created without one: a WASI command, as crun runs it. */
export const DEFAULT_CONTRACT: ContractName = "command";

/** The component worlds Wasmlet serves (a version's `world`); a preview1 module has none. */
export const COMPONENT_WORLD_NAMES = ["wasi:http/proxy", "wasi:cli/command"] as const;
export type ComponentWorldName = (typeof COMPONENT_WORLD_NAMES)[number];

/** True when `bytes` is a WebAssembly component (the binary's layer field is 1), not a core module. */
export function isComponentBinary(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[6] === 1 && bytes[7] === 0;
}

/** The contracts that can run code of each kind, the first being the one chosen when none is given. */
export const CONTRACTS_FOR: Readonly<Record<ComponentWorldName | "module", readonly ContractName[]>> = {
  module: ["command", "wagi"],
  "wasi:http/proxy": ["http"],
  "wasi:cli/command": ["command"],
};

/**
 * The image forms Wasmlet pushes: `compat-smart` (what crun's wasm handler runs: a gzip tar layer, the module
 * and any files) and `wasm-artifact` (the CNCF TAG-Runtime wasm artifact: the module alone as one layer).
 */
export const IMAGE_FORMATS = ["compat-smart", "wasm-artifact"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** One deployed version of a function: an image pinned to its manifest digest. */
export interface FunctionVersion {
  version: number;
  /** Reference the image was pushed to or pulled from (may carry a tag, for humans). */
  image: string;
  /** The manifest digest; the only thing the runtime ever runs. */
  digest: Digest;
  /**
   * The module's initial linear memory, in 64 KiB pages, so a change of `limits.memoryMiB` can be checked
   * without pulling the image. Absent in versions recorded before it was kept, and in package builds.
   */
  initialMemoryPages?: number;
  /** Set when the version is a component: the world it serves. */
  world?: ComponentWorldName;
  /** Directories preopened beside "/" by name (`fn create --dir`); they live in the version's image. */
  dirs?: string[];
  createdAt: string;
}

/** How an asynchronous invocation of a function is retried (5xx, timeout, trap; never a 4xx other than 408/429). */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First retry delay; doubled per attempt, with jitter. */
  backoffMs: number;
  /** An invocation older than this (since it was accepted or redriven) is dead instead of retried. */
  maxAgeMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  retries: 3,
  backoffMs: 1000,
  maxAgeMs: 6 * 3600 * 1000,
});

/** The stored form of a Function. */
export interface FunctionRecord {
  name: string;
  contract: ContractName;
  args: string[];
  env: Record<string, string>;
  limits: Limits;
  /**
   * Where a component may send outbound HTTP requests (`wasi:http/outgoing-handler`): `scheme://host[:port]`
   * patterns as Spin's `allowed_outbound_hosts` (see core/outbound.ts). Absent or empty: nowhere.
   */
  allowOutbound?: string[];
  /** The version that serves. */
  current: FunctionVersion;
  /** Every version, oldest first (current included). */
  versions: FunctionVersion[];
  /** Set when the function's image comes from a package build (issue 4). */
  package?: string;
  /**
   * `command` functions only: an absolute guest path the program writes its result to (`-o /out/x.wav`); the
   * response body is that file instead of stdout (500 when the run did not write it).
   */
  outputFile?: string;
  /** Retries of asynchronous invocations; absent: DEFAULT_RETRY. */
  retry?: RetryPolicy;
  /** Secrets mounted read-only at `/secrets/<name>/<key>` (and, for a component, in `wasi:config/store`). */
  secrets?: string[];
  /** Configs mounted read-only at `/configs/<name>/<key>` (and, for a component, in `wasi:config/store`). */
  configs?: string[];
  /** Environment variables whose value is a secret's or config's key, read at each invocation. */
  envFrom?: Record<string, ValueRef>;
  createdAt: string;
  updatedAt: string;
}

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** The stored form of an HTTPTrigger (a route). */
export interface HttpTriggerRecord {
  name: string;
  /** The function called; with `weights`, the route's stable side (one of the weighted functions). */
  function: string;
  /**
   * Functions by weight (canary releases, Fission's function weights): each request goes to one of them in
   * proportion to its weight; a weight of 0 receives nothing unless forced (ROUTE_FUNCTION_HEADER). Absent: every
   * request goes to `function`.
   */
  weights?: Record<string, number>;
  methods: HttpMethod[];
  /** `exact`: the path, where `{param}` segments match one segment; `prefix`: the path and anything below. */
  match: "exact" | "prefix";
  path: string;
  /** Every request is answered 202 and run later from a durable queue (`route create --async`). */
  async?: boolean;
  createdAt: string;
}

/** A request header whose value pins a caller to one side of a weighted route (the same key, the same function). */
export const ROUTE_KEY_HEADER = "x-wasmlet-route-key";
/** A request header that names the function of a weighted route to call (smoke tests of a side, weight 0 too). */
export const ROUTE_FUNCTION_HEADER = "x-wasmlet-function";

/** Every function a route can call. */
export function routeFunctions(t: Pick<HttpTriggerRecord, "function" | "weights">): string[] {
  return t.weights ? Object.keys(t.weights) : [t.function];
}

/** Kinds of trigger that start invocations without an HTTP request (the triggers folder's TRIGGERS keys). */
export type TriggerKind = "timer" | "mqt" | "async";

/** What started an invocation that no HTTP request started: its kind and the trigger's name. */
export interface TriggerRef {
  kind: TriggerKind;
  name: string;
}

/** The stored form of a TimeTrigger: calls a function on a cron schedule, as an HTTP request would. */
export interface TimeTriggerRecord {
  name: string;
  function: string;
  /** 5 or 6 fields (seconds first when 6), an `@hourly`-style descriptor, or `@every 1m30s`. */
  cron: string;
  /** What the function sees as the request: method, path (`/` by default) and body. */
  method: HttpMethod;
  subpath: string;
  body?: string;
  createdAt: string;
  updatedAt: string;
}

/** The stored form of a MessageQueueTrigger: calls a function for each message on a broker's topic. */
export interface MessageQueueTriggerRecord {
  name: string;
  function: string;
  /** The broker kind: a key of the triggers folder's BROKERS (`nats`: NATS JetStream). */
  mqtype: string;
  topic: string;
  /** Where a 2xx result's body is published; absent: nowhere (the message is acked all the same). */
  respTopic?: string;
  /** Where a message goes, with the error, after its last failed attempt; absent: it is dropped. */
  errorTopic?: string;
  /** Retries after the first attempt before a message counts as failed. */
  maxRetries: number;
  /** Content-Type of the request the function sees. */
  contentType: string;
  createdAt: string;
  updatedAt: string;
}

export const INVOCATION_STATUSES = ["pending", "running", "succeeded", "dead"] as const;
/** pending: waiting for its (next) attempt; running: an attempt is in progress; succeeded and dead are final. */
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];

/** An asynchronous invocation: accepted (202) and stored before it runs, retried, kept with its result. */
export interface AsyncInvocation {
  id: string;
  function: string;
  /** The route it came through, if any. */
  route?: string;
  status: InvocationStatus;
  /** The request as the router received it (and the route's match of it); the body base64-encoded. */
  request: {
    method: string;
    url: string;
    headers: Record<string, string>;
    body: string;
    route?: { pattern: string; scriptName: string; pathInfo: string; params: Record<string, string> };
  };
  /** The caller's Idempotency-Key: a second request with the same key (and function) gets this invocation. */
  idempotencyKey?: string;
  /** Attempts started so far. */
  attempts: number;
  acceptedAt: string;
  /** Max age counts from here: acceptance, or the last redrive. */
  ageFrom: string;
  updatedAt: string;
  /** The next attempt does not start before this (epoch ms). */
  notBefore: number;
  /** Why the last attempt failed. */
  lastError?: string;
  /** The final answer of the function (succeeded or dead), the body base64-encoded and bounded. */
  result?: { status: number; headers: [string, string][]; body: string; truncated?: boolean };
  /** The node that holds it, when the API gathered invocations over a cluster of nodes (etcd); absent otherwise. */
  node?: string;
}

/**
 * The live state of a timer or queue trigger in the serving process (not stored): what `get` and `list` show
 * beside the stored fields.
 */
export interface TriggerStatus {
  /**
   * `active`: armed (timer) or consuming (queue); `pending`: being bound to its broker; `error`: it cannot work
   * now, `lastError` says why (it keeps trying).
   */
  state: "active" | "pending" | "error";
  /** Why the last fire or delivery failed to start, or why the trigger cannot work. */
  lastError?: string;
  /** Timers: the next fire time (ISO). */
  nextFire?: string;
  /** The last invocation it started: when it was due (timers) and started, and the function's status. */
  last?: { dueAt?: string; startedAt: string; latenessMs?: number; status?: number };
  /**
   * Invocations started; skipped: fires of a timer while its previous run still went, messages of a queue trigger
   * delivered again after they were handled (a broker that lost acks).
   */
  fired: number;
  skipped?: number;
  /** Queues: the JetStream stream bound to, whether wasmlet created it, and the durable consumer's name. */
  stream?: string;
  streamCreated?: boolean;
  consumer?: string;
  /** Queues: messages sent to the error topic (or dropped without one) after their last attempt. */
  failed?: number;
}

/** One invocation, as kept in a function's log. */
export interface LogEntry {
  /** Monotonic id, usable as a cursor (`fn logs -f`). */
  id: number;
  function: string;
  time: string;
  status: number;
  durationMs: number;
  digest: string;
  /** Trap message, timeout or exit status; absent on success. */
  error?: string;
  /** What the instance wrote to stderr (bounded). */
  stderr: string;
  /** The invocation's id, as its caller saw it in INVOCATION_ID_HEADER (absent in records made before ids). */
  invocationId?: string;
  /** The caller's W3C trace context, when it sent one. */
  traceparent?: string;
  /** The trigger that started it; absent when an HTTP request did. */
  trigger?: TriggerRef;
  /** The node that served it, when the API gathered the log over a cluster of nodes (etcd); absent otherwise. */
  node?: string;
}

/** Response header (and, to the function, request header / env) carrying an invocation's id. */
export const INVOCATION_ID_HEADER = "x-wasmlet-invocation-id";
/** The environment variable a `command` function reads its invocation's id from. */
export const INVOCATION_ID_ENV = "WASMLET_INVOCATION_ID";

/** The module and files of a pulled image: what the runtime needs to run it. */
export interface LoadedImage {
  digest: Digest;
  /** Path of the module inside the image (the Entrypoint), e.g. `/hello.wasm`. */
  entry: string;
  module: Uint8Array;
  /** Every regular file of the image's root filesystem (the module included), by absolute path. */
  files: ReadonlyMap<string, Uint8Array>;
  /** Directories of the image, empty ones included (those holding files are implied). */
  dirs?: readonly string[];
  /** Symbolic links of the image: absolute path → target as stored. */
  symlinks?: ReadonlyMap<string, string>;
  /** Directories preopened beside "/" by name (`--dir`; the image config's PREOPENS_LABEL). */
  preopens?: readonly string[];
  /**
   * A large core module as its upload was checked (api/source.ts): compiled lazily with its memories capped at
   * `maxMemoryPages`, the form the runtime runs it in until its rewrite; only on an image handed over in-process.
   */
  compiled?: { module: WebAssembly.Module; maxMemoryPages: number };
}

/** Image config label that lists a function's preopened directory names (a JSON array of strings). */
export const PREOPENS_LABEL = "dev.wasmlet.wasi.preopens";
