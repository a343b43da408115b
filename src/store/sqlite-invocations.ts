import type Database from "better-sqlite3";
import type { AsyncInvocation, InvocationStatus } from "../core/index.js";
import { emptyCounts, FINISHED, redriven } from "./invocations.js";
import type { InvocationQuery } from "./types.js";

export const INVOCATIONS_SCHEMA = `
CREATE TABLE IF NOT EXISTS invocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, function TEXT NOT NULL, status TEXT NOT NULL,
  not_before INTEGER NOT NULL, updated_ms INTEGER NOT NULL, idem_key TEXT, json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocations_due ON invocations (status, not_before);
CREATE INDEX IF NOT EXISTS invocations_by_function ON invocations (function, seq);
CREATE UNIQUE INDEX IF NOT EXISTS invocations_idem ON invocations (function, idem_key) WHERE idem_key IS NOT NULL;
`;

interface Row {
  json: string;
}

/** What accepting an invocation stored: it, or the earlier one with the same idempotency key. */
export interface Accepted {
  invocation: AsyncInvocation;
  duplicate: boolean;
}

/** Where clause and parameters for a query (every field narrows). */
function where(q: InvocationQuery): { sql: string; params: unknown[] } {
  const columns = { function: q.function, status: q.status, id: q.id };
  const given = Object.entries(columns).filter(([, v]) => v !== undefined);
  return {
    sql: given.length > 0 ? `WHERE ${given.map(([c]) => `${c} = ?`).join(" AND ")}` : "",
    params: given.map(([, v]) => v),
  };
}

/**
 * The asynchronous invocations of the SQLite store: one row each, the record as JSON beside the columns that
 * queries use. A claim is one UPDATE statement (atomic as a transaction); a redrive one IMMEDIATE transaction.
 */
export class SqliteInvocations {
  readonly #stmt;
  /** One invocation, inside acceptAll's transaction: a savepoint, so a refused one leaves the others stored. */
  readonly #acceptOne;

  constructor(private readonly db: Database.Database) {
    this.#stmt = {
      insert: db.prepare(
        "INSERT INTO invocations (id, function, status, not_before, updated_ms, idem_key, json) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      byKey: db.prepare<[string, string], Row>(
        "SELECT json FROM invocations WHERE function = ? AND idem_key = ?",
      ),
      get: db.prepare<[string], Row>("SELECT json FROM invocations WHERE id = ?"),
      // One statement claims a batch: the record's status, attempts and updatedAt change in SQL (json_set), as
      // `claimed` would change them, instead of a parse, a stringify and an UPDATE per row in JavaScript.
      anyDue: db.prepare<[number], { one: number }>(
        "SELECT 1 AS one FROM invocations WHERE status = 'pending' AND not_before <= ? LIMIT 1",
      ),
      claim: db.prepare<[number, string, number, number], Row>(
        `UPDATE invocations SET status = 'running', updated_ms = ?,
           json = json_set(json, '$.status', 'running', '$.attempts', json_extract(json, '$.attempts') + 1,
                           '$.updatedAt', ?)
         WHERE seq IN (SELECT seq FROM invocations WHERE status = 'pending' AND not_before <= ?
                       ORDER BY not_before LIMIT ?)
         RETURNING json`,
      ),
      save: db.prepare(
        "UPDATE invocations SET status = ?, not_before = ?, updated_ms = ?, json = ? WHERE id = ?",
      ),
      running: db.prepare<[], Row>("SELECT json FROM invocations WHERE status = 'running'"),
    };
    this.#acceptOne = db.transaction((inv: AsyncInvocation): Accepted => {
      if (inv.idempotencyKey !== undefined) {
        const row = this.#stmt.byKey.get(inv.function, inv.idempotencyKey);
        if (row) return { invocation: JSON.parse(row.json) as AsyncInvocation, duplicate: true };
      }
      this.#insert(inv);
      return { invocation: inv, duplicate: false };
    });
  }

  /**
   * Stores several invocations in one IMMEDIATE transaction (one commit for all: group commit). Each is stored
   * or refused on its own (a savepoint each): an Error in its place says why; the commit failing throws.
   */
  acceptAll(invs: AsyncInvocation[]): (Accepted | Error)[] {
    return this.db
      .transaction(() =>
        invs.map((inv) => {
          try {
            return this.#acceptOne(inv);
          } catch (e) {
            return e instanceof Error ? e : new Error(String(e));
          }
        }),
      )
      .immediate();
  }

  get(id: string): AsyncInvocation | undefined {
    const row = this.#stmt.get.get(id);
    return row ? (JSON.parse(row.json) as AsyncInvocation) : undefined;
  }

  list(q: InvocationQuery & { limit?: number }): AsyncInvocation[] {
    const w = where(q);
    return this.db
      .prepare<unknown[], Row>(`SELECT json FROM invocations ${w.sql} ORDER BY seq DESC LIMIT ?`)
      .all(...w.params, q.limit ?? 100)
      .map((r) => JSON.parse(r.json) as AsyncInvocation);
  }

  count(fn?: string): Record<InvocationStatus, number> {
    const w = where({ function: fn });
    const counts = emptyCounts();
    for (const r of this.db
      .prepare<unknown[], { status: InvocationStatus; n: number }>(
        `SELECT status, COUNT(*) AS n FROM invocations ${w.sql} GROUP BY status`,
      )
      .all(...w.params))
      counts[r.status] = r.n;
    return counts;
  }

  claim(nowMs: number, limit: number): AsyncInvocation[] {
    // A read first: an idle poll takes no write lock (and writes nothing).
    if (this.#stmt.anyDue.get(nowMs) === undefined) return [];
    const iso = new Date(nowMs).toISOString();
    // RETURNING has no order: the earliest due first, as they were chosen.
    return this.#stmt.claim
      .all(nowMs, iso, nowMs, limit)
      .map((r) => JSON.parse(r.json) as AsyncInvocation)
      .sort((a, b) => a.notBefore - b.notBefore);
  }

  /** One transaction: a commit per invocation was most of the runner's cost. */
  saveAll(invs: AsyncInvocation[]): void {
    this.db.transaction(() => {
      for (const inv of invs) this.save(inv);
    })();
  }

  save(inv: AsyncInvocation): void {
    this.#stmt.save.run(inv.status, inv.notBefore, Date.parse(inv.updatedAt), JSON.stringify(inv), inv.id);
  }

  requeueRunning(): number {
    return this.db
      .transaction(() => {
        const rows = this.#stmt.running.all();
        for (const r of rows) this.save({ ...(JSON.parse(r.json) as AsyncInvocation), status: "pending" });
        return rows.length;
      })
      .immediate();
  }

  redrive(q: InvocationQuery): number {
    const w = where({ ...q, status: "dead" });
    const now = Date.now();
    return this.db
      .transaction(() => {
        const rows = this.db
          .prepare<unknown[], Row>(`SELECT json FROM invocations ${w.sql}`)
          .all(...w.params);
        for (const r of rows) this.save(redriven(JSON.parse(r.json), now));
        return rows.length;
      })
      .immediate();
  }

  purge(q: InvocationQuery & { beforeMs?: number }): number {
    const statuses = q.status === undefined ? FINISHED : FINISHED.filter((s) => s === q.status);
    if (statuses.length === 0) return 0;
    const w = where({ function: q.function, id: q.id });
    const clauses = [w.sql ? w.sql.slice(6) : "", `status IN (${statuses.map(() => "?").join(", ")})`];
    const params = [...w.params, ...statuses];
    if (q.beforeMs !== undefined) {
      clauses.push("updated_ms < ?");
      params.push(q.beforeMs);
    }
    const sql = `DELETE FROM invocations WHERE ${clauses.filter(Boolean).join(" AND ")}`;
    return this.db.prepare(sql).run(...params).changes;
  }

  #insert(inv: AsyncInvocation): void {
    this.#stmt.insert.run(
      inv.id,
      inv.function,
      inv.status,
      inv.notBefore,
      Date.parse(inv.updatedAt),
      inv.idempotencyKey ?? null,
      JSON.stringify(inv),
    );
  }
}
