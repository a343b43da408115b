import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type AsyncInvocation,
  DEFAULT_LIMITS,
  type FunctionRecord,
  type HttpTriggerRecord,
  isWasmletError,
} from "../core/index.js";
import { type Change, LOG_LIMIT_PER_FUNCTION, type NewLogEntry, type Store } from "./types.js";

const T = "2024-01-01T00:00:00.000Z";

export function fnRecord(name: string, version = 1): FunctionRecord {
  const v = {
    version,
    image: `127.0.0.1:1/functions/${name}:v${version}`,
    digest: `sha256:${"a".repeat(64)}` as const,
    createdAt: T,
  };
  return {
    name,
    contract: "command",
    args: ["x"],
    env: { A: "1" },
    limits: { ...DEFAULT_LIMITS },
    current: v,
    versions: [v],
    createdAt: T,
    updatedAt: T,
  };
}

function routeRecord(name: string, fn: string): HttpTriggerRecord {
  return { name, function: fn, methods: ["GET"], match: "exact", path: `/${name}`, createdAt: T };
}

function invocation(id: string, fn: string, more: Partial<AsyncInvocation> = {}): AsyncInvocation {
  return {
    id,
    function: fn,
    status: "pending",
    request: { method: "POST", url: "/", headers: {}, body: "" },
    attempts: 0,
    acceptedAt: T,
    ageFrom: T,
    updatedAt: T,
    notBefore: 0,
    ...more,
  };
}

function logEntry(fn: string, i: number): NewLogEntry {
  return { function: fn, time: T, status: 200, durationMs: i, digest: "sha256:x", stderr: `line ${i}` };
}

function rejectsWith(p: Promise<unknown>, code: "ALREADY_EXISTS" | "NOT_FOUND", name: string) {
  return assert.rejects(p, (e) => isWasmletError(e, code) && e.message.includes(`"${name}"`));
}

/** The behaviour every Store backend must show; run once per backend with a factory for a fresh, empty store. */
export function runStoreContract(name: string, create: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    const withStore = (fn: (s: Store) => Promise<void>) => async () => {
      const s = await create();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    };

    test(
      "create/get/list/update/delete round-trip, list ordered by name and per kind",
      withStore(async (s) => {
        for (const n of ["b", "c", "a"]) await s.create("function", n, fnRecord(n));
        await s.create("httptrigger", "r", routeRecord("r", "a"));
        assert.deepEqual(await s.get("function", "a"), fnRecord("a"));
        assert.deepEqual(
          (await s.list("function")).map((f) => f.name),
          ["a", "b", "c"],
        );
        assert.deepEqual(await s.list("httptrigger"), [routeRecord("r", "a")]);
        await s.update("function", "b", fnRecord("b", 2));
        assert.equal((await s.get("function", "b"))?.current.version, 2);
        await s.delete("function", "c");
        assert.equal(await s.get("function", "c"), undefined);
        assert.deepEqual(
          (await s.list("function")).map((f) => f.name),
          ["a", "b"],
        );
        assert.equal(await s.get("httptrigger", "a"), undefined, "kinds do not share names");
      }),
    );

    test(
      "ALREADY_EXISTS and NOT_FOUND leave state and the change feed unchanged",
      withStore(async (s) => {
        await s.create("function", "a", fnRecord("a"));
        const head = await s.head();
        await rejectsWith(s.create("function", "a", fnRecord("a", 9)), "ALREADY_EXISTS", "a");
        await rejectsWith(s.update("function", "zz", fnRecord("zz")), "NOT_FOUND", "zz");
        await rejectsWith(s.delete("function", "zz"), "NOT_FOUND", "zz");
        assert.deepEqual(await s.get("function", "a"), fnRecord("a"));
        assert.equal(await s.get("function", "zz"), undefined);
        assert.equal(await s.head(), head);
      }),
    );

    test(
      "values are copies: mutating what get returned does not change the store",
      withStore(async (s) => {
        const rec = fnRecord("a");
        await s.create("function", "a", rec);
        rec.env.B = "2";
        const got = await s.get("function", "a");
        assert.ok(got);
        got.args.push("y");
        assert.deepEqual(await s.get("function", "a"), fnRecord("a"));
      }),
    );

    test(
      "change feed: strictly growing seq, ops in write order, resumable from a seq",
      withStore(async (s) => {
        assert.equal(await s.head(), 0);
        await s.create("function", "a", fnRecord("a"));
        await s.create("httptrigger", "r", routeRecord("r", "a"));
        await s.update("function", "a", fnRecord("a", 2));
        await s.delete("httptrigger", "r");
        const all = await s.changes(0);
        assert.deepEqual(
          all.map((c) => [c.kind, c.name, c.op]),
          [
            ["function", "a", "create"],
            ["httptrigger", "r", "create"],
            ["function", "a", "update"],
            ["httptrigger", "r", "delete"],
          ],
        );
        for (let i = 1; i < all.length; i++) assert.ok(all[i].seq > all[i - 1].seq);
        assert.equal(await s.head(), all[3].seq);
        assert.deepEqual(await s.changes(all[1].seq), all.slice(2));
        assert.deepEqual(await s.changes(all[3].seq), []);
      }),
    );

    test(
      "watch: sees only later changes, in order, by the time the write resolves; unsubscribe stops it",
      withStore(async (s) => {
        await s.create("function", "before", fnRecord("before"));
        const seen: Change[] = [];
        const stop = s.watch((c) => seen.push(c));
        const failing = s.watch(() => {
          throw new Error("watcher bug");
        });
        await s.create("function", "a", fnRecord("a"));
        assert.deepEqual(
          seen.map((c) => [c.name, c.op]),
          [["a", "create"]],
          "delivered synchronously after commit, a throwing watcher notwithstanding",
        );
        await s.update("function", "a", fnRecord("a", 2));
        await s.delete("function", "a");
        assert.deepEqual(
          seen.map((c) => c.op),
          ["create", "update", "delete"],
        );
        assert.deepEqual(seen, (await s.changes(seen[0].seq - 1)).slice(0, 3));
        stop();
        failing();
        await s.create("function", "b", fnRecord("b"));
        assert.equal(seen.length, 3);
      }),
    );

    test(
      "logs: trimmed per function, newest-N or cursor reads oldest first, deleted per function",
      withStore(async (s) => {
        const extra = 5;
        const batch = Array.from({ length: LOG_LIMIT_PER_FUNCTION + extra }, (_, i) => logEntry("f", i));
        await s.appendLogs(batch.slice(0, 10));
        await s.appendLogs(batch.slice(10));
        await s.appendLogs([logEntry("g", 0), logEntry("g", 1)]);

        const kept = await s.readLogs("f", { limit: LOG_LIMIT_PER_FUNCTION + 50 });
        assert.equal(kept.length, LOG_LIMIT_PER_FUNCTION);
        assert.equal(kept[0].stderr, `line ${extra}`, "the oldest entries were dropped");
        assert.equal(kept.at(-1)?.stderr, `line ${LOG_LIMIT_PER_FUNCTION + extra - 1}`);
        assert.equal(kept[0].function, "f");
        for (let i = 1; i < kept.length; i++) assert.ok(kept[i].id > kept[i - 1].id);

        const newest = await s.readLogs("f", { limit: 3 });
        assert.deepEqual(newest, kept.slice(-3));
        const page = await s.readLogs("f", { afterId: kept[9].id, limit: 2 });
        assert.deepEqual(page, kept.slice(10, 12));
        assert.deepEqual(await s.readLogs("f", { afterId: kept.at(-1)?.id }), []);

        const g = await s.readLogs("g");
        assert.deepEqual(
          g.map((e) => e.stderr),
          ["line 0", "line 1"],
        );
        await s.deleteLogs("f");
        assert.deepEqual(await s.readLogs("f"), []);
        assert.equal((await s.readLogs("g")).length, 2);
      }),
    );

    test(
      "logs: dropped records are counted per function, with or without entries, and deleted with the log",
      withStore(async (s) => {
        assert.equal(await s.droppedLogs("f"), 0);
        await s.appendLogs([logEntry("f", 0)], { f: 500, g: 20 });
        await s.appendLogs([], { f: 7 });
        assert.equal(await s.droppedLogs("f"), 507);
        assert.equal(await s.droppedLogs("g"), 20);
        assert.equal((await s.readLogs("g")).length, 0, "a count adds no entry");
        await s.deleteLogs("f");
        assert.equal(await s.droppedLogs("f"), 0);
        assert.equal(await s.droppedLogs("g"), 20);
      }),
    );
    test(
      "async invocations: accept (idempotency key dedups per function), claim when due, save, requeue, redrive, purge",
      withStore(async (s) => {
        const a = await s.acceptInvocation(invocation("a", "f", { idempotencyKey: "k1" }));
        assert.equal(a.duplicate, false);
        const dup = await s.acceptInvocation(invocation("a2", "f", { idempotencyKey: "k1" }));
        assert.deepEqual(dup, {
          invocation: invocation("a", "f", { idempotencyKey: "k1" }),
          duplicate: true,
        });
        assert.equal(
          (await s.acceptInvocation(invocation("b", "g", { idempotencyKey: "k1" }))).duplicate,
          false,
        );
        await s.acceptInvocation(invocation("c", "f", { notBefore: 5000 }));
        assert.equal(await s.getInvocation("a2"), undefined, "a duplicate stores nothing");
        assert.deepEqual(
          (await s.listInvocations()).map((i) => i.id),
          ["c", "b", "a"],
          "newest first",
        );
        assert.deepEqual(
          (await s.listInvocations({ function: "f", limit: 1 })).map((i) => i.id),
          ["c"],
        );

        const claimed = await s.claimInvocations(1000, 10);
        assert.deepEqual(
          claimed.map((i) => [i.id, i.status, i.attempts]),
          [
            ["a", "running", 1],
            ["b", "running", 1],
          ],
          "c is not due before 5000",
        );
        assert.deepEqual(await s.claimInvocations(1000, 10), [], "a claimed invocation is not claimed again");
        assert.deepEqual(await s.countInvocations(), { pending: 1, running: 2, succeeded: 0, dead: 0 });

        await s.saveInvocations([
          { ...claimed[0], status: "succeeded", result: { status: 200, headers: [], body: "" } },
        ]);
        await s.saveInvocations([{ ...claimed[1], status: "dead", lastError: "500" }]);
        assert.equal((await s.getInvocation("a"))?.result?.status, 200);
        assert.deepEqual(
          (await s.listInvocations({ status: "dead" })).map((i) => i.id),
          ["b"],
        );
        assert.equal(await s.requeueRunning(), 0);
        assert.equal((await s.claimInvocations(6000, 10))[0]?.id, "c");
        assert.equal(await s.requeueRunning(), 1, "a running invocation of a dead process runs again");
        assert.equal((await s.getInvocation("c"))?.status, "pending");

        assert.equal(await s.redriveInvocations({ function: "f" }), 0, "only dead ones are redriven");
        assert.equal(await s.redriveInvocations({ id: "b" }), 1);
        const b = await s.getInvocation("b");
        assert.equal(b?.status, "pending");
        assert.equal(b?.attempts, 0);
        assert.ok((b?.notBefore ?? 0) <= Date.now());

        assert.equal(await s.purgeInvocations({}), 1, "only finished ones are purged: a");
        assert.equal(await s.getInvocation("a"), undefined);
        assert.deepEqual(await s.countInvocations("f"), { pending: 1, running: 0, succeeded: 0, dead: 0 });
      }),
    );

    test(
      "handled marks: per key and id, forgotten when pruned",
      withStore(async (s) => {
        assert.equal(await s.wasHandled("mqt/a", "S:1"), false);
        await s.markHandled("mqt/a", ["S:1", "S:2"], 1000);
        await s.markHandled("mqt/a", ["S:3"], 5000);
        assert.equal(await s.wasHandled("mqt/a", "S:1"), true);
        assert.equal(await s.wasHandled("mqt/b", "S:1"), false, "keys do not share ids");
        assert.equal(await s.pruneHandled(2000), 2);
        assert.equal(await s.wasHandled("mqt/a", "S:2"), false);
        assert.equal(await s.wasHandled("mqt/a", "S:3"), true);
      }),
    );
  });
}
