import type { ContractName, Digest, FunctionRecord, LoadedImage, TriggerRef } from "../core/index.js";
import type { Trigger } from "./stats.js";

/**
 * Strings already in the form args_get/environ_get copy into the guest: NUL-terminated byte strings back to
 * back, and where each starts. A contract that builds the environment per request writes it straight into
 * this form (no intermediate strings); the bytes are the guest's from then on.
 */
export interface EncodedStrings {
  /** What args_get/environ_get copy; its length is what *_sizes_get reports. Every string ends with a NUL. */
  readonly bytes: Uint8Array;
  /** Start of each string in `bytes` (a plain array: small typed arrays are off-heap allocations). */
  readonly offsets: readonly number[];
}

/** What one WASI command invocation is given. */
export interface WasiInputs {
  /** argv, argv[0] included. */
  args: string[];
  /** Environment as `KEY=VALUE` strings (encoded as UTF-8), or already encoded. */
  env: string[] | EncodedStrings;
  stdin: Uint8Array;
  /**
   * An absolute guest path whose written files come back in WasiOutputs.files: the invocation's regular files
   * at or under it that it created or changed. Absent (the usual case): nothing is collected.
   */
  collect?: string;
  /** For a `wasi:http/proxy` component (the `http` contract): the request its incoming-handler gets. */
  http?: HttpRequestHead;
  /** The function's outbound allow-list (`FunctionRecord.allowOutbound`), for a component's outgoing-handler. */
  allowOutbound?: readonly string[];
  /**
   * Read-only directories over the image: guest path (`/secrets/db`) → file name → bytes (the function's secrets
   * and configs). A host rebuilds its layer only when handed another map object.
   */
  mounts?: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>;
  /** What a component's `wasi:config/store` answers: key (`<name>/<key>`) → value. */
  config?: readonly [string, string][];
}

/** The request line and headers an `http` run hands to the component (the body is `stdin`). */
export interface HttpRequestHead {
  method: string;
  /** Path and query as received (`/x?y=1`). */
  pathWithQuery: string;
  authority: string;
  /** Lower-case names, values as node decoded them (latin1). */
  headers: [string, string][];
}

/** What one WASI command invocation produced. */
export interface WasiOutputs {
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** For a `wasi:http/proxy` component: the status and headers it set (the body is `stdout`). */
  http?: { status: number; headers: [string, string][] };
  /** When WasiInputs.collect was given: each file written at or under it, by absolute path (the caller's bytes). */
  files?: Map<string, Uint8Array>;
}

/** One HTTP request, as the router hands it to a contract. */
export interface InvocationRequest {
  method: string;
  /** Path and query as received, e.g. `/echo/x?y=1`. */
  url: string;
  path: string;
  /** Raw query string without `?`. */
  query: string;
  /** Lower-case header names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: Uint8Array;
  remoteAddr: string;
  remotePort: number;
  serverName: string;
  serverPort: number;
  protocol: string;
  /** The route that matched: its pattern (`/echo/...` for prefixes), the part of the path it consumed, and `{param}` values. */
  route: { pattern: string; scriptName: string; pathInfo: string; params: Record<string, string> };
  /** Tells when the caller has gone (its connection closed): a queued invocation is dropped, a running one stopped. */
  cancel?: CancelToken;
  /** performance.now() when the request arrived; its deadline counts from here (default: when invoke is called). */
  arrivedAt?: number;
  /** Set when a trigger (timer, queue), not an HTTP request, started the invocation: logged, and shown to the function. */
  trigger?: InvocationTrigger;
  /** Where a request without a trigger came from, for the metrics: `http` (the router, default) or `api`. */
  source?: Trigger;
  /** The invocation's sequence number in this process (core/ids.ts); the runtime makes one when absent. */
  invocation?: number;
}

/** How a function learns what started it (WASMLET_TRIGGER* variables for both contracts). */
export interface InvocationTrigger extends TriggerRef {
  /** Unique per event: the same on every attempt of one message. */
  id: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/**
 * How a caller says it no longer wants an invocation's result. Subscribed to only when an invocation has to
 * wait (queue, worker), so the fast path pays nothing for it.
 */
export interface CancelToken {
  /** True once the caller has gone. */
  readonly cancelled: boolean;
  /** Calls `cb` once when the caller goes; returns a function that unsubscribes. */
  onCancel(cb: () => void): () => void;
}

export interface InvocationResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

/** How an HTTP request reaches a WASI module and how its output becomes the response. */
export interface Contract {
  /**
   * Called once per request, before the instance runs; must not mutate `fn`. `entry` is the module's path in
   * its image (`/hello.wasm`), which becomes argv[0] as crun passes it.
   */
  prepare(req: InvocationRequest, fn: FunctionRecord, entry: string): WasiInputs;
  /** Called with what a successful (exit 0) instance wrote. Throws WasmletError BAD_GATEWAY on malformed output. */
  respond(out: WasiOutputs): InvocationResponse;
}

export type ContractMap = Record<ContractName, Contract>;

export interface RunLimits {
  timeoutMs: number;
  memoryMiB: number;
  /** Most bytes of stdout; a run that writes more fails with `output`. */
  maxOutputBytes: number;
}

/** Outcome of one run. `error` absent means the module exited with status 0. */
export interface RunResult extends WasiOutputs {
  error?: {
    /** `output`: stdout over the function's limit; `cancelled`: the caller went away. */
    kind: "timeout" | "trap" | "exit" | "oom" | "output" | "cancelled" | "internal";
    message: string;
  };
  durationMs: number;
}

/** What `Runtime.run` reports of one request: the program's own outcome, as a command line shows it. */
export interface RunReport {
  /** The HTTP status invoke() would have answered. */
  status: number;
  /** The program's exit status (1 when it trapped, timed out or never ran). */
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** Files written at or under the path asked for, by absolute guest path. */
  files: Map<string, Uint8Array>;
  /** Why the run failed (timeout, trap, output limit, overload...); absent on success and on a plain non-zero exit. */
  error?: string;
}

/**
 * An execution strategy: how instances are created, isolated, bounded and reset. The runtime holds one;
 * the performance work swaps it without touching contracts or the router.
 */
export interface Executor {
  /** Prepares (validates, rewrites, compiles) an image once per digest; later calls are cheap. */
  prepare(image: LoadedImage, limits: RunLimits): Promise<void>;
  /** True when `prepare` has completed for this digest and it is still cached. */
  isPrepared(digest: Digest, limits?: RunLimits): boolean;
  /**
   * Runs one invocation on a clean instance, bounded by `limits` and stopped at `deadlineAt` (performance.now()
   * time; the time the invocation already waited counts). A `cancel` that fires stops a queued or running
   * invocation (result `cancelled`). Never rejects for a guest failure.
   */
  run(
    digest: Digest,
    inputs: WasiInputs,
    limits: RunLimits,
    deadlineAt: number,
    cancel?: CancelToken,
  ): Promise<RunResult>;
  /**
   * Frees what was prepared for `digest` (no function runs it any more); a later `prepare` starts over. Optional:
   * an executor without it keeps modules until they are evicted.
   */
  release?(digest: Digest): void;
  /**
   * Boots a worker thread now if none is idle: a large module's first runs go to one, and its upload is arriving.
   * Optional: an executor without workers ignores it.
   */
  prestartWorkers?(): void;
  /** Stops workers and frees modules. */
  close(): Promise<void>;
}

/**
 * One invocation as the runtime reports it (to the log). Cheap to make on the request path: the start time is
 * a number and stderr stays bytes; the log side turns it into a store entry.
 */
export interface InvocationRecord {
  function: string;
  digest: Digest;
  /** Epoch milliseconds when the request reached the runtime. */
  startedMs: number;
  status: number;
  /** Time in the instance (µs precision), or the whole invocation when the instance did not run. */
  durationMs: number;
  /** What the instance wrote to stderr (its tail, bounded); empty when nothing. */
  stderr: Uint8Array;
  /** Trap message, timeout or exit status; absent on success. */
  error?: string;
  /** The invocation's sequence number in this process (its id: core/ids.ts). */
  invocation: number;
  /** The caller's W3C `traceparent`, when it sent one. */
  traceparent?: string;
  /** The trigger that started it; absent when an HTTP request did. */
  trigger?: TriggerRef;
}
