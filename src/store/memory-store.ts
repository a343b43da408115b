import type { LogEntry } from "../core/index.js";
import { alreadyExists, logLimit, notFound } from "./errors.js";
import { FeedStore } from "./feed-store.js";
import {
  type Change,
  type DroppedLogs,
  type Kind,
  LOG_LIMIT_PER_FUNCTION,
  type NewLogEntry,
  type ResourceMap,
  type Store,
} from "./types.js";

/**
 * A Store that lives in this process only: for tests, demos and `serve --memory`. Values are deep-copied
 * on the way in and out, so callers can never mutate stored state behind the store's back.
 */
export class MemoryStore extends FeedStore implements Store {
  readonly #resources = new Map<Kind, Map<string, unknown>>();
  readonly #changes: Change[] = [];
  readonly #logs = new Map<string, LogEntry[]>();
  readonly #dropped = new Map<string, number>();
  #nextLogId = 1;

  async get<K extends Kind>(kind: K, name: string): Promise<ResourceMap[K] | undefined> {
    this.check();
    const v = this.#table(kind).get(name);
    return v === undefined ? undefined : (structuredClone(v) as ResourceMap[K]);
  }

  async list<K extends Kind>(kind: K): Promise<ResourceMap[K][]> {
    this.check();
    return [...this.#table(kind).entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => structuredClone(v) as ResourceMap[K]);
  }

  async create<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void> {
    this.check();
    const table = this.#table(kind);
    if (table.has(name)) throw alreadyExists(kind, name);
    table.set(name, structuredClone(value));
    this.#record(kind, name, "create");
  }

  async update<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void> {
    this.check();
    const table = this.#table(kind);
    if (!table.has(name)) throw notFound(kind, name);
    table.set(name, structuredClone(value));
    this.#record(kind, name, "update");
  }

  async delete(kind: Kind, name: string): Promise<void> {
    this.check();
    if (!this.#table(kind).delete(name)) throw notFound(kind, name);
    this.#record(kind, name, "delete");
  }

  async appendLogs(entries: NewLogEntry[], dropped: DroppedLogs = {}): Promise<void> {
    this.check();
    for (const [fn, n] of Object.entries(dropped)) this.#dropped.set(fn, (this.#dropped.get(fn) ?? 0) + n);
    for (const e of entries) {
      const list = this.#logs.get(e.function) ?? [];
      this.#logs.set(e.function, list);
      list.push({ ...structuredClone(e), id: this.#nextLogId++ });
      if (list.length > LOG_LIMIT_PER_FUNCTION) list.splice(0, list.length - LOG_LIMIT_PER_FUNCTION);
    }
  }

  async readLogs(fn: string, options: { afterId?: number; limit?: number } = {}): Promise<LogEntry[]> {
    this.check();
    const list = this.#logs.get(fn) ?? [];
    const limit = logLimit(options.limit, LOG_LIMIT_PER_FUNCTION);
    const { afterId } = options;
    const picked =
      afterId === undefined ? list.slice(-limit) : list.filter((e) => e.id > afterId).slice(0, limit);
    return structuredClone(picked);
  }

  async droppedLogs(fn: string): Promise<number> {
    this.check();
    return this.#dropped.get(fn) ?? 0;
  }

  async deleteLogs(fn: string): Promise<void> {
    this.check();
    this.#logs.delete(fn);
    this.#dropped.delete(fn);
  }

  async close(): Promise<void> {
    this.isClosed = true;
  }

  #table(kind: Kind): Map<string, unknown> {
    const t = this.#resources.get(kind) ?? new Map<string, unknown>();
    this.#resources.set(kind, t);
    return t;
  }

  #record(kind: Kind, name: string, op: Change["op"]): void {
    this.#changes.push({ seq: this.headSeq() + 1, kind, name, op });
    this.watchers.drain();
  }

  protected headSeq(): number {
    return this.#changes.at(-1)?.seq ?? 0;
  }

  protected changesSince(afterSeq: number): Change[] {
    // seq n sits at index n-1, so the tail is a slice, not a scan.
    return this.#changes.slice(Math.max(0, afterSeq)).map((c) => ({ ...c }));
  }
}
