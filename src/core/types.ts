import type { Digest } from "./digest.js";

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

export const CONTRACT_NAMES = ["command", "wagi"] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

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
  /** The version that serves. */
  current: FunctionVersion;
  /** Every version, oldest first (current included). */
  versions: FunctionVersion[];
  /** Set when the function's image comes from a package build (issue 4). */
  package?: string;
  /** Retries of asynchronous invocations; absent: DEFAULT_RETRY. */
  retry?: RetryPolicy;
  createdAt: string;
  updatedAt: string;
}

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** The stored form of an HTTPTrigger (a route). */
export interface HttpTriggerRecord {
  name: string;
  function: string;
  methods: HttpMethod[];
  /** `exact`: the path, where `{param}` segments match one segment; `prefix`: the path and anything below. */
  match: "exact" | "prefix";
  path: string;
  /** Every request is answered 202 and run later from a durable queue (`route create --async`). */
  async?: boolean;
  createdAt: string;
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
  /** The trigger that started it; absent when an HTTP request did. */
  trigger?: TriggerRef;
}

/** The module and files of a pulled image: what the runtime needs to run it. */
export interface LoadedImage {
  digest: Digest;
  /** Path of the module inside the image (the Entrypoint), e.g. `/hello.wasm`. */
  entry: string;
  module: Uint8Array;
  /** Every regular file of the image's root filesystem (the module included), by absolute path. */
  files: ReadonlyMap<string, Uint8Array>;
}
