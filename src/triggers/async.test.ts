import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type AsyncInvocation,
  DEFAULT_LIMITS,
  type FunctionRecord,
  type RetryPolicy,
} from "../core/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import { MemoryStore, type Store } from "../store/index.js";
import { AsyncInvocations } from "./async.js";

const T = "2030-01-01T00:00:00.000Z";

function fnRecord(name: string, retry?: RetryPolicy): FunctionRecord {
  const v = { version: 1, image: `r/${name}:v1`, digest: `sha256:${"a".repeat(64)}` as const, createdAt: T };
  const f: FunctionRecord = {
    name,
    contract: "command",
    args: [],
    env: {},
    limits: { ...DEFAULT_LIMITS },
    current: v,
    versions: [v],
    createdAt: T,
    updatedAt: T,
  };
  if (retry) f.retry = retry;
  return f;
}

function accepted(id: string, body: string, more: Partial<AsyncInvocation> = {}): AsyncInvocation {
  const now = new Date().toISOString();
  return {
    id,
    function: "f",
    route: "r",
    status: "pending",
    request: {
      method: "POST",
      url: "/jobs?x=1",
      headers: { "x-a": "1" },
      body: Buffer.from(body).toString("base64"),
    },
    attempts: 0,
    acceptedAt: now,
    ageFrom: now,
    updatedAt: now,
    notBefore: Date.now(),
    ...more,
  };
}

/** The function answers the status its body names ("500", "404"), else 200 with "done <body>". */
const calls: InvocationRequest[] = [];
async function invoke(_fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse> {
  calls.push(req);
  const body = Buffer.from(req.body).toString();
  const status = /^\d{3}$/.test(body) ? Number(body) : 200;
  return {
    status,
    headers: [["content-type", "text/plain"]],
    body: Buffer.from(status === 200 ? `done ${body}` : "it failed"),
  };
}

const runners: AsyncInvocations[] = [];
after(async () => {
  for (const r of runners) await r.stop();
});

async function setup(retry: RetryPolicy = { retries: 2, backoffMs: 50, maxAgeMs: 60_000 }): Promise<Store> {
  calls.length = 0;
  const store = new MemoryStore();
  await store.create("function", "f", fnRecord("f", retry));
  const r = new AsyncInvocations({ store, invoke, log: () => {} }, { pollMs: 20 });
  runners.push(r);
  await r.start();
  return store;
}

async function settled(store: Store, id: string): Promise<AsyncInvocation> {
  const end = Date.now() + 5000;
  for (;;) {
    const inv = await store.getInvocation(id);
    if (inv?.status === "succeeded" || inv?.status === "dead") return inv;
    if (Date.now() > end) throw new Error(`invocation ${id} is still ${inv?.status}`);
    await sleep(10);
  }
}

describe("AsyncInvocations", () => {
  test("runs an accepted invocation once with its request, and keeps the result", async () => {
    const store = await setup();
    await store.acceptInvocation(accepted("ok", "hello"));
    const inv = await settled(store, "ok");
    assert.equal(inv.status, "succeeded");
    assert.equal(inv.attempts, 1);
    assert.equal(inv.result?.status, 200);
    assert.equal(Buffer.from(inv.result?.body ?? "", "base64").toString(), "done hello");
    assert.equal(calls.length, 1);
    const [req] = calls;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/jobs");
    assert.equal(req.query, "x=1");
    assert.equal(req.headers["x-a"], "1");
    assert.deepEqual(req.trigger, { kind: "async", name: "r", id: "ok", attempt: 1 });
  });

  test("a 5xx is retried with backoff up to the policy's retries, then dead with its last result", async () => {
    const store = await setup();
    const t0 = Date.now();
    await store.acceptInvocation(accepted("bad", "500"));
    const inv = await settled(store, "bad");
    assert.equal(inv.status, "dead");
    assert.equal(inv.attempts, 3, "1 attempt + 2 retries");
    assert.equal(inv.result?.status, 500);
    assert.match(inv.lastError ?? "", /status 500: it failed \(after 3 attempts\)/);
    assert.deepEqual(
      calls.map((c) => c.trigger?.attempt),
      [1, 2, 3],
    );
    // Backoff 50 ms then 100 ms (±20 %): the three attempts span at least 120 ms.
    assert.ok(Date.now() - t0 >= 120, `${Date.now() - t0} ms`);
  });

  test("a 4xx other than 408/429 is dead at once; 429 is retried", async () => {
    const store = await setup();
    await store.acceptInvocation(accepted("nf", "404"));
    await store.acceptInvocation(accepted("busy", "429"));
    assert.equal((await settled(store, "nf")).attempts, 1);
    assert.equal((await settled(store, "busy")).attempts, 3);
  });

  test("an invocation older than the max age is dead without running", async () => {
    const store = await setup({ retries: 2, backoffMs: 50, maxAgeMs: 1000 });
    await store.acceptInvocation(
      accepted("old", "x", { ageFrom: new Date(Date.now() - 5000).toISOString() }),
    );
    const inv = await settled(store, "old");
    assert.equal(inv.status, "dead");
    assert.match(inv.lastError ?? "", /older than the function's max age/);
    assert.equal(calls.length, 0);
  });

  test("invocations a stopped server left running run again; after draining, accepted = succeeded + dead", async () => {
    const store = new MemoryStore();
    calls.length = 0;
    await store.create("function", "f", fnRecord("f", { retries: 1, backoffMs: 20, maxAgeMs: 60_000 }));
    for (let i = 0; i < 20; i++)
      await store.acceptInvocation(accepted(`i${i}`, i % 4 === 0 ? "500" : `n${i}`));
    // A crash mid-run: claimed (running), never finished.
    assert.equal((await store.claimInvocations(Date.now(), 5)).length, 5);
    const r = new AsyncInvocations({ store, invoke, log: () => {} }, { pollMs: 20 });
    runners.push(r);
    await r.start();
    for (let i = 0; i < 20; i++) await settled(store, `i${i}`);
    const counts = await store.countInvocations();
    assert.deepEqual(counts, { pending: 0, running: 0, succeeded: 15, dead: 5 });
  });

  test("an attempt whose outcome cannot be stored runs again instead of staying running", async () => {
    // The real store, whose first write of an outcome fails (a full disk for a moment).
    class FlakyStore extends MemoryStore {
      failures = 1;
      override async saveInvocations(invs: AsyncInvocation[]): Promise<void> {
        if (this.failures-- > 0) throw new Error("disk I/O error");
        return super.saveInvocations(invs);
      }
    }
    const store = new FlakyStore();
    calls.length = 0;
    await store.create("function", "f", fnRecord("f"));
    await store.acceptInvocation(accepted("flaky", "x"));
    const r = new AsyncInvocations({ store, invoke, log: () => {} }, { pollMs: 20 });
    runners.push(r);
    await r.start();
    const end = Date.now() + 5000;
    let inv = await store.getInvocation("flaky");
    while (inv?.status !== "succeeded" && Date.now() < end) {
      await sleep(20);
      inv = await store.getInvocation("flaky");
    }
    assert.equal(inv?.status, "succeeded");
    assert.equal(inv?.attempts, 2, "run again after the failed write");
    assert.equal(calls.length, 2);
  });

  test("finished invocations are purged after the retention period; pending ones are kept", async () => {
    const store = new MemoryStore();
    await store.create("function", "f", fnRecord("f"));
    await store.acceptInvocation(accepted("done", "x"));
    await store.acceptInvocation(accepted("later", "x", { notBefore: Date.now() + 60_000 }));
    const r = new AsyncInvocations(
      { store, invoke, log: () => {} },
      { pollMs: 20, retentionMs: 200, purgeEveryMs: 50 },
    );
    runners.push(r);
    await r.start();
    assert.equal((await settled(store, "done")).status, "succeeded");
    const end = Date.now() + 3000;
    while ((await store.getInvocation("done")) && Date.now() < end) await sleep(20);
    assert.equal(await store.getInvocation("done"), undefined, "purged once older than the retention");
    assert.equal((await store.getInvocation("later"))?.status, "pending");
  });
});
