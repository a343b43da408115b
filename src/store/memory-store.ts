import type { AsyncInvocation, InvocationStatus, LogEntry } from "../core/index.js";
import { alreadyExists, logLimit, notFound } from "./errors.js";
import { FeedStore } from "./feed-store.js";
import { claimed, emptyCounts, FINISHED, matches, redriven } from "./invocations.js";
import {
  type Change,
  type DroppedLogs,
  type InvocationQuery,
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
  /** Insertion order is acceptance order. */
  readonly #invocations = new Map<string, AsyncInvocation>();
  /** `key NUL id` -> when it was marked. */
  readonly #handled = new Map<string, number>();

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

  async acceptInvocation(inv: AsyncInvocation): Promise<{ invocation: AsyncInvocation; duplicate: boolean }> {
    this.check();
    if (inv.idempotencyKey !== undefined)
      for (const other of this.#invocations.values())
        if (other.function === inv.function && other.idempotencyKey === inv.idempotencyKey)
          return { invocation: structuredClone(other), duplicate: true };
    this.#invocations.set(inv.id, structuredClone(inv));
    return { invocation: structuredClone(inv), duplicate: false };
  }

  async getInvocation(id: string): Promise<AsyncInvocation | undefined> {
    this.check();
    const inv = this.#invocations.get(id);
    return inv && structuredClone(inv);
  }

  async listInvocations(q: InvocationQuery & { limit?: number } = {}): Promise<AsyncInvocation[]> {
    this.check();
    const all = [...this.#invocations.values()].filter((i) => matches(i, q)).reverse();
    return structuredClone(all.slice(0, q.limit ?? 100));
  }

  async countInvocations(fn?: string): Promise<Record<InvocationStatus, number>> {
    this.check();
    const counts = emptyCounts();
    for (const i of this.#invocations.values()) if (fn === undefined || i.function === fn) counts[i.status]++;
    return counts;
  }

  async claimInvocations(nowMs: number, limit: number): Promise<AsyncInvocation[]> {
    this.check();
    const due = [...this.#invocations.values()]
      .filter((i) => i.status === "pending" && i.notBefore <= nowMs)
      .sort((a, b) => a.notBefore - b.notBefore)
      .slice(0, limit)
      .map((i) => claimed(i, nowMs));
    for (const i of due) this.#invocations.set(i.id, i);
    return structuredClone(due);
  }

  async saveInvocations(invs: AsyncInvocation[]): Promise<void> {
    this.check();
    for (const inv of invs)
      if (this.#invocations.has(inv.id)) this.#invocations.set(inv.id, structuredClone(inv));
  }

  async requeueRunning(): Promise<number> {
    this.check();
    let n = 0;
    for (const i of this.#invocations.values())
      if (i.status === "running") {
        i.status = "pending";
        n++;
      }
    return n;
  }

  async redriveInvocations(q: InvocationQuery): Promise<number> {
    this.check();
    const now = Date.now();
    let n = 0;
    for (const i of [...this.#invocations.values()])
      if (i.status === "dead" && matches(i, q)) {
        this.#invocations.set(i.id, redriven(i, now));
        n++;
      }
    return n;
  }

  async purgeInvocations(q: InvocationQuery & { beforeMs?: number }): Promise<number> {
    this.check();
    let n = 0;
    for (const i of [...this.#invocations.values()])
      if (
        FINISHED.includes(i.status) &&
        matches(i, q) &&
        (q.beforeMs === undefined || Date.parse(i.updatedAt) < q.beforeMs)
      ) {
        this.#invocations.delete(i.id);
        n++;
      }
    return n;
  }

  async markHandled(key: string, ids: string[], atMs: number): Promise<void> {
    this.check();
    for (const id of ids) this.#handled.set(`${key}\u0000${id}`, atMs);
  }

  async wasHandled(key: string, id: string): Promise<boolean> {
    this.check();
    return this.#handled.has(`${key}\u0000${id}`);
  }

  async pruneHandled(beforeMs: number): Promise<number> {
    this.check();
    let n = 0;
    for (const [k, at] of [...this.#handled])
      if (at < beforeMs) {
        this.#handled.delete(k);
        n++;
      }
    return n;
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
