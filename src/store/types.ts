import type { FunctionRecord, HttpTriggerRecord, LogEntry } from "../core/index.js";

/** The kinds of resource the store keeps, and their stored forms. New kinds add a line here, no schema change. */
export interface ResourceMap {
  function: FunctionRecord;
  httptrigger: HttpTriggerRecord;
  // issue 4 adds: package, environment
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
  /** Appends log entries in one transaction; keeps at most `LOG_LIMIT_PER_FUNCTION` per function. */
  appendLogs(entries: NewLogEntry[]): Promise<void>;
  /** Up to `limit` entries of a function with id > afterId, oldest first; the newest `limit` when afterId is omitted. */
  readLogs(fn: string, options?: { afterId?: number; limit?: number }): Promise<LogEntry[]>;
  /** Deletes a function's log (on function delete). */
  deleteLogs(fn: string): Promise<void>;
  close(): Promise<void>;
}

export const LOG_LIMIT_PER_FUNCTION = 1000;
