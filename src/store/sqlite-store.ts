import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { AsyncInvocation, InvocationStatus, LogEntry } from "../core/index.js";
import { alreadyExists, logLimit, notFound } from "./errors.js";
import { FeedStore } from "./feed-store.js";
import { type Accepted, INVOCATIONS_SCHEMA, SqliteInvocations } from "./sqlite-invocations.js";
import {
  type Change,
  type DroppedLogs,
  type InvocationQuery,
  type Kind,
  LOG_LIMIT_PER_FUNCTION,
  LOG_TRIM_EVERY,
  type NewLogEntry,
  type ResourceMap,
  type Store,
} from "./types.js";

/** How often the change feed is polled, by default, for writes made by other processes while anyone watches. */
export const WATCH_POLL_MS = 50;

export interface SqliteStoreOptions {
  /**
   * Poll interval of the change feed (ms) for writes made by other processes. Writes through this object reach
   * its watchers at once whatever the interval; a process told about changes (`pollNow`) needs polling only as
   * a fallback. Each poll is a read on the caller's thread (the request thread, in a router). Default 50.
   */
  pollMs?: number;
}
const BUSY_TIMEOUT_MS = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (
  kind TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL, PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, name TEXT NOT NULL, op TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, function TEXT NOT NULL, json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_function ON logs (function, id);
CREATE TABLE IF NOT EXISTS log_drops (function TEXT PRIMARY KEY, dropped INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS handled (
  key TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (key, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS handled_by_time ON handled (at);
`;

/**
 * The embedded state store: one SQLite file, `<dataDir>/state.db`, in WAL mode so readers never block the
 * writer and several processes (serve, CLI-side tools, workers) can share it. A resource write and its
 * change-feed row commit in one transaction, so a watcher can never see a change whose resource is missing.
 */
export class SqliteStore extends FeedStore implements Store {
  readonly #db: Database.Database;
  readonly #stmt;
  /** Log entries inserted per function since this process last trimmed it. */
  readonly #untrimmed = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  readonly #pollMs: number;
  readonly #invocations: SqliteInvocations;
  /** An invocation was stored at once in this turn of the event loop: the next ones wait for its end. */
  #acceptedThisTurn = false;
  /** Accepted invocations waiting for this turn's group commit. */
  readonly #accepts: {
    inv: AsyncInvocation;
    resolve: (a: Accepted) => void;
    reject: (e: unknown) => void;
  }[] = [];

  constructor(dataDir: string, options: SqliteStoreOptions = {}) {
    super();
    this.#pollMs = options.pollMs ?? WATCH_POLL_MS;
    mkdirSync(dataDir, { recursive: true });
    this.#db = new Database(join(dataDir, "state.db"));
    this.#db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode: a commit survives a crash of the process (the WAL is written before the commit returns);
    // only an OS crash or power loss can drop the last transactions. FULL would fsync every commit.
    this.#db.pragma("synchronous = NORMAL");
    this.#db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.#db.exec(SCHEMA);
    this.#db.exec(INVOCATIONS_SCHEMA);
    this.#invocations = new SqliteInvocations(this.#db);
    const db = this.#db;
    this.#stmt = {
      get: db.prepare<[string, string], { spec: string }>(
        "SELECT spec FROM resources WHERE kind = ? AND name = ?",
      ),
      list: db.prepare<[string], { spec: string }>("SELECT spec FROM resources WHERE kind = ? ORDER BY name"),
      insert: db.prepare("INSERT INTO resources (kind, name, spec) VALUES (?, ?, ?)"),
      update: db.prepare("UPDATE resources SET spec = ? WHERE kind = ? AND name = ?"),
      delete: db.prepare("DELETE FROM resources WHERE kind = ? AND name = ?"),
      change: db.prepare("INSERT INTO changes (kind, name, op) VALUES (?, ?, ?)"),
      since: db.prepare<[number], Change>(
        "SELECT seq, kind, name, op FROM changes WHERE seq > ? ORDER BY seq",
      ),
      head: db.prepare<[], { seq: number | null }>("SELECT MAX(seq) AS seq FROM changes"),
      logInsert: db.prepare("INSERT INTO logs (function, json) VALUES (?, ?)"),
      logTrim: db.prepare(
        `DELETE FROM logs WHERE function = @fn AND id <= (
           SELECT id FROM logs WHERE function = @fn ORDER BY id DESC LIMIT 1 OFFSET @keep)`,
      ),
      logAfter: db.prepare<[string, number, number], { id: number; json: string }>(
        "SELECT id, json FROM logs WHERE function = ? AND id > ? ORDER BY id LIMIT ?",
      ),
      logLatest: db.prepare<[string, number], { id: number; json: string }>(
        "SELECT id, json FROM (SELECT id, json FROM logs WHERE function = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
      ),
      logDelete: db.prepare("DELETE FROM logs WHERE function = ?"),
      dropAdd: db.prepare(
        `INSERT INTO log_drops (function, dropped) VALUES (?, ?)
         ON CONFLICT (function) DO UPDATE SET dropped = dropped + excluded.dropped`,
      ),
      dropGet: db.prepare<[string], { dropped: number }>("SELECT dropped FROM log_drops WHERE function = ?"),
      dropDelete: db.prepare("DELETE FROM log_drops WHERE function = ?"),
      handledAdd: db.prepare("INSERT OR REPLACE INTO handled (key, id, at) VALUES (?, ?, ?)"),
      handledGet: db.prepare<[string, string], { one: number }>(
        "SELECT 1 AS one FROM handled WHERE key = ? AND id = ?",
      ),
      handledPrune: db.prepare("DELETE FROM handled WHERE at < ?"),
    };
  }

  async get<K extends Kind>(kind: K, name: string): Promise<ResourceMap[K] | undefined> {
    this.check();
    const row = this.#stmt.get.get(kind, name);
    return row ? (JSON.parse(row.spec) as ResourceMap[K]) : undefined;
  }

  async list<K extends Kind>(kind: K): Promise<ResourceMap[K][]> {
    this.check();
    return this.#stmt.list.all(kind).map((r) => JSON.parse(r.spec) as ResourceMap[K]);
  }

  async create<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void> {
    this.#write(() => {
      if (this.#stmt.get.get(kind, name)) throw alreadyExists(kind, name);
      this.#stmt.insert.run(kind, name, JSON.stringify(value));
      this.#stmt.change.run(kind, name, "create");
    });
  }

  async update<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void> {
    this.#write(() => {
      if (this.#stmt.update.run(JSON.stringify(value), kind, name).changes === 0) throw notFound(kind, name);
      this.#stmt.change.run(kind, name, "update");
    });
  }

  async delete(kind: Kind, name: string): Promise<void> {
    this.#write(() => {
      if (this.#stmt.delete.run(kind, name).changes === 0) throw notFound(kind, name);
      this.#stmt.change.run(kind, name, "delete");
    });
  }

  async appendLogs(entries: NewLogEntry[], dropped: DroppedLogs = {}): Promise<void> {
    this.check();
    this.#db
      .transaction(() => {
        for (const [fn, n] of Object.entries(dropped)) this.#stmt.dropAdd.run(fn, n);
        const touched = new Set<string>();
        for (const e of entries) {
          const { function: fn, ...rest } = e;
          this.#stmt.logInsert.run(fn, JSON.stringify(rest));
          this.#untrimmed.set(fn, (this.#untrimmed.get(fn) ?? LOG_TRIM_EVERY) + 1);
          touched.add(fn);
        }
        // Trimming scans a function's newest LOG_LIMIT entries: do it once per LOG_TRIM_EVERY inserts of that
        // function (and on its first insert here), not on every batch — with many functions in rotation the
        // per-batch trim was most of the cost of logging. Reads never return more than the limit.
        for (const fn of touched) {
          if ((this.#untrimmed.get(fn) ?? 0) < LOG_TRIM_EVERY) continue;
          this.#stmt.logTrim.run({ fn, keep: LOG_LIMIT_PER_FUNCTION });
          this.#untrimmed.set(fn, 0);
        }
      })
      .immediate();
  }

  async readLogs(fn: string, options: { afterId?: number; limit?: number } = {}): Promise<LogEntry[]> {
    this.check();
    const limit = logLimit(options.limit, LOG_LIMIT_PER_FUNCTION);
    const rows =
      options.afterId === undefined
        ? this.#stmt.logLatest.all(fn, limit)
        : this.#stmt.logAfter.all(fn, options.afterId, limit);
    return rows.map((r) => ({ id: r.id, function: fn, ...JSON.parse(r.json) }) as LogEntry);
  }

  async droppedLogs(fn: string): Promise<number> {
    this.check();
    return this.#stmt.dropGet.get(fn)?.dropped ?? 0;
  }

  async deleteLogs(fn: string): Promise<void> {
    this.check();
    this.#db.transaction(() => {
      this.#stmt.logDelete.run(fn);
      this.#stmt.dropDelete.run(fn);
    })();
    this.#untrimmed.delete(fn);
  }

  /**
   * Group commit: the first invocation accepted in a turn of the event loop is stored at once (a lone 202 waits
   * for nothing else); the ones after it in the same turn (concurrent 202s) wait for the turn's end and are
   * stored together in one transaction. Each promise resolves once its transaction has committed — a commit per
   * request was most of the 202 path's cost under load. Durable as any commit of this store: in the WAL before
   * it resolves (survives a kill -9 of the process; `synchronous = NORMAL` leaves an OS crash or a power loss
   * able to drop the last commits).
   */
  async acceptInvocation(inv: AsyncInvocation): Promise<Accepted> {
    this.check();
    if (!this.#acceptedThisTurn) {
      this.#acceptedThisTurn = true;
      setImmediate(() => {
        this.#acceptedThisTurn = false;
      });
      const [out] = this.#invocations.acceptAll([inv]);
      if (out instanceof Error) throw out;
      return out;
    }
    return new Promise((resolve, reject) => {
      if (this.#accepts.push({ inv, resolve, reject }) === 1) setImmediate(() => this.#commitAccepts());
    });
  }

  /** Stores the waiting accepts in one transaction and settles their promises. */
  #commitAccepts(): void {
    const batch = this.#accepts.splice(0);
    if (batch.length === 0) return;
    let results: (Accepted | Error)[];
    try {
      this.check();
      results = this.#invocations.acceptAll(batch.map((a) => a.inv));
    } catch (e) {
      for (const a of batch) a.reject(e);
      return;
    }
    batch.forEach((a, i) => {
      const r = results[i];
      if (r instanceof Error) a.reject(r);
      else a.resolve(r);
    });
  }

  async getInvocation(id: string): Promise<AsyncInvocation | undefined> {
    this.check();
    return this.#invocations.get(id);
  }

  async listInvocations(q: InvocationQuery & { limit?: number } = {}): Promise<AsyncInvocation[]> {
    this.check();
    return this.#invocations.list(q);
  }

  async countInvocations(fn?: string): Promise<Record<InvocationStatus, number>> {
    this.check();
    return this.#invocations.count(fn);
  }

  async claimInvocations(nowMs: number, limit: number): Promise<AsyncInvocation[]> {
    this.check();
    return this.#invocations.claim(nowMs, limit);
  }

  async saveInvocations(invs: AsyncInvocation[]): Promise<void> {
    this.check();
    this.#invocations.saveAll(invs);
  }

  async requeueRunning(): Promise<number> {
    this.check();
    return this.#invocations.requeueRunning();
  }

  async redriveInvocations(q: InvocationQuery): Promise<number> {
    this.check();
    return this.#invocations.redrive(q);
  }

  async purgeInvocations(q: InvocationQuery & { beforeMs?: number }): Promise<number> {
    this.check();
    return this.#invocations.purge(q);
  }

  async markHandled(key: string, ids: string[], atMs: number): Promise<void> {
    this.check();
    this.#db.transaction(() => {
      for (const id of ids) this.#stmt.handledAdd.run(key, id, atMs);
    })();
  }

  async wasHandled(key: string, id: string): Promise<boolean> {
    this.check();
    return this.#stmt.handledGet.get(key, id) !== undefined;
  }

  async pruneHandled(beforeMs: number): Promise<number> {
    this.check();
    return this.#stmt.handledPrune.run(beforeMs).changes;
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    // Accepts already promised a commit: store them before closing.
    this.#commitAccepts();
    this.isClosed = true;
    this.#setPolling(false);
    this.#db.close();
  }

  /**
   * Reads the change feed now instead of at the next poll: called when another process says it wrote (the
   * router processes of `serve --workers` are told so by the primary, so a deploy reaches them in ~1 ms).
   */
  pollNow(): void {
    if (!this.isClosed) this.watchers.drain();
  }

  /** Runs a write in an IMMEDIATE transaction (takes the write lock up front: no deadlock-prone upgrade), then notifies watchers. */
  #write(fn: () => void): void {
    this.check();
    this.#db.transaction(fn).immediate();
    this.watchers.drain();
  }

  protected headSeq(): number {
    return this.#stmt.head.get()?.seq ?? 0;
  }

  protected changesSince(afterSeq: number): Change[] {
    return this.#stmt.since.all(afterSeq);
  }

  protected override onWatcherCount(count: number): void {
    this.#setPolling(count > 0);
  }

  #setPolling(on: boolean): void {
    if (on && !this.#timer && !this.isClosed) {
      this.#timer = setInterval(() => this.watchers.drain(), this.#pollMs);
      this.#timer.unref();
    } else if (!on && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
