import type {
  AsyncInvocation,
  Digest,
  FunctionRecord,
  HttpTriggerRecord,
  InvocationStatus,
  LogEntry,
  MessageQueueTriggerRecord,
  TimeTriggerRecord,
} from "../core/index.js";

export const PACKAGE_STATUSES = ["pending", "running", "succeeded", "failed"] as const;
/** pending: waiting in the build queue; running: compiling; succeeded/failed: the last build's outcome. */
export type PackageStatus = (typeof PACKAGE_STATUSES)[number];

/** Settings of a function that a package build creates once it succeeds (`fn create --src` without waiting). */
export interface FunctionDraft {
  name: string;
  contract?: FunctionRecord["contract"];
  args?: string[];
  env?: Record<string, string>;
  limits?: Partial<FunctionRecord["limits"]>;
}

/** The stored form of a Package: a source archive in the registry, built into a module image. */
export interface PackageRecord {
  name: string;
  /** The uploaded tar+gzip archive, kept as the layer of the OCI artifact `image` (a tag protects it from GC). */
  source: { digest: Digest; size: number; fileName: string; image: string };
  /** Builder name (a key of the build folder's BUILDERS). */
  builder: string;
  /** The environment the builder (and default build command) came from, if any. */
  environment?: string;
  buildCommand?: string;
  status: PackageStatus;
  /** Output of the last build (compiler messages), or why it could not run. */
  buildLog: string;
  /** Bumped on every new source or rebuild; tags the source (`src-<n>`) and built image (`build-<n>`). */
  generation: number;
  /** The image of the last successful build, and its manifest digest. */
  image?: string;
  digest?: Digest;
  /** Functions created from this package when the build in progress succeeds. */
  pendingFunctions?: FunctionDraft[];
  /** Free-form labels; `wasmlet.dev/deployment` marks resources a spec apply created. */
  labels?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** The stored form of an Environment: a named builder preset (no runtime image is needed for wasm). */
export interface EnvironmentRecord {
  name: string;
  builder: string;
  buildCommand?: string;
  labels?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** What a spec apply deployed, by `Kind/name`, with the hash of the spec it applied (idempotence, --delete). */
export interface SpecDeploymentRecord {
  name: string;
  resources: Record<string, string>;
  updatedAt: string;
}

/** One weight change of a canary release (or its start and end). */
export interface CanaryEvent {
  time: string;
  /** The new function's weight before and after, in percent. */
  from: number;
  to: number;
  reason: string;
  /** The new function's failure rate (5xx, in percent) and invocations over the interval that decided it. */
  rate?: number;
  n?: number;
}

/**
 * A canary release on a route: the new function's weight grows by `step` each interval while its failure rate stays
 * under the threshold, and drops to 0 at once (status failed) when it goes over.
 */
export interface CanaryRecord {
  /** The route's name: one canary per route. */
  name: string;
  /** The function the route served when the canary started. */
  stable: string;
  /** The function being released. */
  canary: string;
  /** Weight added per healthy interval, in percent (1-100). */
  step: number;
  intervalMs: number;
  /** Failure rate (5xx, in percent) over which the canary is rolled back. */
  thresholdPct: number;
  /** Invocations of the new function an interval needs before it decides anything (else it holds). */
  minRequests: number;
  /** The new function's weight now, in percent. */
  weight: number;
  status: "running" | "succeeded" | "failed";
  history: CanaryEvent[];
  createdAt: string;
  updatedAt: string;
}

/**
 * The stored form of a Secret: only its name and key names are in clear; the values are one AES-256-GCM
 * ciphertext (secrets/crypto.ts), so no store backend, change feed or copy of the database holds them.
 */
export interface SecretRecord {
  name: string;
  /** The key names, sorted (what `secret get` shows). */
  keys: string[];
  /** The values, encrypted together: a JSON object of key → value, sealed with the server's secret key. */
  sealed: SealedValue;
  labels?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** A sealed (encrypted and authenticated) value. */
export interface SealedValue {
  /** Always "aes-256-gcm". */
  alg: "aes-256-gcm";
  /** Which key sealed it: the first 16 hex digits of its SHA-256 (tells a wrong key from damaged data). */
  keyId: string;
  /** 12-byte nonce, base64. */
  iv: string;
  /** 16-byte authentication tag, base64. */
  tag: string;
  /** The ciphertext, base64. */
  data: string;
}

/** The stored form of a Config: non-secret key → value pairs, kept as given. */
export interface ConfigRecord {
  name: string;
  data: Record<string, string>;
  labels?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** The kinds of resource the store keeps, and their stored forms. New kinds add a line here, no schema change. */
export interface ResourceMap {
  function: FunctionRecord;
  httptrigger: HttpTriggerRecord;
  timetrigger: TimeTriggerRecord;
  mqtrigger: MessageQueueTriggerRecord;
  package: PackageRecord;
  environment: EnvironmentRecord;
  specdeployment: SpecDeploymentRecord;
  canary: CanaryRecord;
  secret: SecretRecord;
  config: ConfigRecord;
}
export type Kind = keyof ResourceMap;

/** One entry of the change feed. `seq` grows strictly; a watcher resumes from the last seq it saw. */
export interface Change {
  seq: number;
  kind: Kind;
  name: string;
  op: "create" | "update" | "delete";
}

/** A new log entry: the store assigns `id`. */
export type NewLogEntry = Omit<LogEntry, "id">;

/** Invocation records dropped before they reached the store (the log writer fell behind), by function name. */
export type DroppedLogs = Readonly<Record<string, number>>;

/**
 * The state store. All writes are atomic and, once the promise resolves, durable and visible to `get`
 * and to watchers (in this process at once; in other processes sharing the database within their poll interval).
 */
export interface Store {
  get<K extends Kind>(kind: K, name: string): Promise<ResourceMap[K] | undefined>;
  /** Every resource of a kind, ordered by name. */
  list<K extends Kind>(kind: K): Promise<ResourceMap[K][]>;
  /** Fails with ALREADY_EXISTS when the name is taken; stores nothing then. */
  create<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void>;
  /** Fails with NOT_FOUND when absent. */
  update<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void>;
  /** Fails with NOT_FOUND when absent. */
  delete(kind: Kind, name: string): Promise<void>;
  /** Changes with seq > afterSeq, oldest first. */
  changes(afterSeq: number): Promise<Change[]>;
  /** Latest seq (0 when the feed is empty). */
  head(): Promise<number>;
  /** Calls `listener` for every change after subscription, in seq order. Returns the unsubscribe function. */
  watch(listener: (change: Change) => void): () => void;
  /**
   * Appends log entries, and adds `dropped` to the functions' dropped-record counts, in one transaction. Keeps
   * the newest `LOG_LIMIT_PER_FUNCTION` per function: reads never return more, and storage holds at most
   * `LOG_TRIM_EVERY` more per function and writing process.
   */
  appendLogs(entries: NewLogEntry[], dropped?: DroppedLogs): Promise<void>;
  /** Up to `limit` entries of a function with id > afterId, oldest first; the newest `limit` when afterId is omitted. */
  readLogs(fn: string, options?: { afterId?: number; limit?: number }): Promise<LogEntry[]>;
  /** How many invocation records of a function were dropped, in all, since its log began (0 when none). */
  droppedLogs(fn: string): Promise<number>;
  /** Deletes a function's log and its dropped-record count (on function delete). */
  deleteLogs(fn: string): Promise<void>;
  /**
   * Stores a new asynchronous invocation (durable once it resolves). When the function already has one with the
   * same idempotency key, stores nothing and returns that one with `duplicate`.
   */
  acceptInvocation(inv: AsyncInvocation): Promise<{ invocation: AsyncInvocation; duplicate: boolean }>;
  getInvocation(id: string): Promise<AsyncInvocation | undefined>;
  /** Newest first, at most `limit` (default 100). */
  listInvocations(q?: InvocationQuery & { limit?: number }): Promise<AsyncInvocation[]>;
  /** How many invocations there are per status (of one function, when given). */
  countInvocations(fn?: string): Promise<Record<InvocationStatus, number>>;
  /**
   * Takes up to `limit` pending invocations due at `nowMs` (oldest due first): each becomes running with one more
   * attempt. Only the process that runs them calls it.
   */
  claimInvocations(nowMs: number, limit: number): Promise<AsyncInvocation[]>;
  /** Writes invocations back (after an attempt: pending again, succeeded or dead), in one transaction. */
  saveInvocations(invs: AsyncInvocation[]): Promise<void>;
  /** Running invocations become pending again (their process is gone: a restart); returns how many. */
  requeueRunning(): Promise<number>;
  /** Dead invocations matching `q` become pending, with their attempts and age reset; returns how many. */
  redriveInvocations(q: InvocationQuery): Promise<number>;
  /** Deletes finished (succeeded, dead) invocations matching `q`, updated before `beforeMs` when given. */
  purgeInvocations(q: InvocationQuery & { beforeMs?: number }): Promise<number>;
  /**
   * Remembers that messages (by id) of a consumer (`key`, e.g. a queue trigger) were handled, so a redelivery after a
   * broker lost its acks can be recognised. Kept until `pruneHandled`.
   */
  markHandled(key: string, ids: string[], atMs: number): Promise<void>;
  /** Whether `markHandled` recorded this message for this consumer. */
  wasHandled(key: string, id: string): Promise<boolean>;
  /** Forgets what was marked before `beforeMs`; returns how many marks went. */
  pruneHandled(beforeMs: number): Promise<number>;
  close(): Promise<void>;
}

/** Which invocations a list, redrive or purge applies to; every field narrows. */
export interface InvocationQuery {
  function?: string;
  status?: InvocationStatus;
  id?: string;
}

export const LOG_LIMIT_PER_FUNCTION = 1000;
/** A backend may hold up to this many entries over the limit per function (and writer) between trims. */
export const LOG_TRIM_EVERY = 100;
