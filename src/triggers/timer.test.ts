import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_LIMITS, type FunctionRecord, type TimeTriggerRecord } from "../core/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import { MemoryStore, type Store } from "../store/index.js";
import { TimerScheduler } from "./timer.js";

const T = "2030-01-01T00:00:00.000Z";

function fnRecord(name: string): FunctionRecord {
  const v = { version: 1, image: `r/${name}:v1`, digest: `sha256:${"a".repeat(64)}` as const, createdAt: T };
  return {
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
}

function timer(
  name: string,
  fn: string,
  cron: string,
  extra: Partial<TimeTriggerRecord> = {},
): TimeTriggerRecord {
  return { name, function: fn, cron, method: "POST", subpath: "/", createdAt: T, updatedAt: T, ...extra };
}

interface Call {
  fn: string;
  req: InvocationRequest;
  /** Epoch ms when the invocation started. */
  at: number;
  /** Epoch ms it was due (its ce-time). */
  due: number;
}

/** A scheduler over a memory store whose invocations are recorded and take `runMs`. */
async function setup(runMs = 0) {
  const store: Store = new MemoryStore();
  const calls: Call[] = [];
  const lines: string[] = [];
  const invoke = async (fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse> => {
    calls.push({ fn: fn.name, req, at: Date.now(), due: Date.parse(req.headers["ce-time"]) });
    if (runMs > 0) await sleep(runMs);
    return { status: 200, headers: [], body: new Uint8Array() };
  };
  const scheduler = new TimerScheduler({ store, invoke, log: (l) => lines.push(l) });
  await store.create("function", "f", fnRecord("f"));
  await store.create("function", "g", fnRecord("g"));
  return { store, calls, lines, scheduler, invoke };
}

const open: TimerScheduler[] = [];
after(async () => {
  for (const s of open) await s.stop();
});

describe("TimerScheduler", () => {
  test("fires every due second once, on time, with the timer's request and trigger", async () => {
    const { store, calls, scheduler } = await setup();
    open.push(scheduler);
    await store.create(
      "timetrigger",
      "t",
      timer("t", "f", "* * * * * *", { method: "PUT", subpath: "/job?x=1", body: "hi" }),
    );
    await scheduler.start();
    await sleep(3300);
    await scheduler.stop();
    assert.ok(calls.length >= 3 && calls.length <= 4, `${calls.length} fires in 3.3 s`);
    const dues = calls.map((c) => c.due);
    assert.equal(new Set(dues).size, dues.length, "no second fired twice");
    for (const c of calls) {
      assert.equal(c.due % 1000, 0, "due on whole seconds");
      // Generous for a loaded 2-core machine; the e2e test and the bench measure the real lateness.
      assert.ok(c.at - c.due >= 0 && c.at - c.due < 250, `fired ${c.at - c.due} ms after its due time`);
    }
    const { req } = calls[0];
    assert.equal(req.method, "PUT");
    assert.equal(req.path, "/job");
    assert.equal(req.query, "x=1");
    assert.equal(Buffer.from(req.body).toString(), "hi");
    assert.equal(req.trigger?.kind, "timer");
    assert.equal(req.trigger?.name, "t");
    assert.equal(req.trigger?.attempt, 1);
    assert.equal(req.headers["ce-source"], "/timers/t");
    assert.equal(req.headers["ce-type"], "dev.wasmlet.timer");
    assert.equal(req.headers["ce-id"], req.trigger?.id);
    assert.notEqual(calls[1].req.trigger?.id, req.trigger?.id, "each fire has its own id");
    const status = scheduler.status("t");
    assert.equal(status?.state, "active");
    assert.equal(status?.fired, calls.length);
    assert.equal(status?.last?.status, 200);
  });

  test("an update takes effect within a second; a delete stops it before it returns", async () => {
    const { store, calls, scheduler } = await setup();
    open.push(scheduler);
    await store.create("timetrigger", "t", timer("t", "f", "@yearly"));
    await scheduler.start();
    const updatedAt = Date.now();
    await store.update("timetrigger", "t", timer("t", "g", "* * * * * *"));
    while (calls.length === 0 && Date.now() - updatedAt < 3000) await sleep(10);
    assert.equal(calls[0]?.fn, "g", "the updated timer calls the new function");
    assert.ok(calls[0].at - updatedAt <= 1250, `first fire ${calls[0].at - updatedAt} ms after the update`);
    await store.delete("timetrigger", "t");
    const deletedAt = Date.now();
    const before = calls.length;
    await sleep(2200);
    assert.equal(calls.length, before, "nothing fired after the delete");
    assert.ok(calls.every((c) => c.at <= deletedAt));
    assert.equal(scheduler.status("t"), undefined);
  });

  test("a fire while the previous run still goes is skipped and logged", async () => {
    const { store, calls, lines, scheduler } = await setup(2500);
    open.push(scheduler);
    await store.create("timetrigger", "slow", timer("slow", "f", "* * * * * *"));
    await scheduler.start();
    await sleep(3600);
    await scheduler.stop();
    // Runs start at most every 3 s (a 2.5 s run, then the next whole second): 1 or 2 in 3.6 s, never 3+.
    assert.ok(calls.length >= 1 && calls.length <= 2, `${calls.length} runs`);
    for (let i = 1; i < calls.length; i++) assert.ok(calls[i].at - calls[i - 1].at >= 2500, "no overlap");
    const skipped = scheduler.status("slow")?.skipped ?? 0;
    assert.ok(skipped >= 2, `${skipped} fires skipped`);
    assert.equal(
      lines.filter((l) => /timer slow: skipped the fire due at .* is still going/.test(l)).length,
      skipped,
    );
  });

  test("no catch-up burst after a restart: fires missed while stopped are not run", async () => {
    const { store, calls, invoke } = await setup();
    await store.create("timetrigger", "t", timer("t", "f", "* * * * * *"));
    const first = new TimerScheduler({ store, invoke, log: () => {} });
    await first.start();
    await sleep(1100);
    await first.stop();
    const stoppedAt = Date.now();
    await sleep(2500);
    const second = new TimerScheduler({ store, invoke, log: () => {} });
    open.push(second);
    const restartedAt = Date.now();
    const before = calls.length;
    await second.start();
    await sleep(1500);
    await second.stop();
    const afterRestart = calls.slice(before);
    assert.ok(calls.slice(0, before).every((c) => c.at <= stoppedAt));
    assert.ok(afterRestart.length >= 1 && afterRestart.length <= 2, `${afterRestart.length} fires in 1.5 s`);
    for (const c of afterRestart) assert.ok(c.due > restartedAt, "only fires due after the restart run");
  });

  test("a timer whose function is missing shows the error, and fires once the function exists", async () => {
    const { store, calls, scheduler } = await setup();
    open.push(scheduler);
    await store.create("timetrigger", "t", timer("t", "nofn", "* * * * * *"));
    await scheduler.start();
    await sleep(1300);
    assert.equal(calls.length, 0);
    assert.equal(scheduler.status("t")?.state, "error");
    assert.match(scheduler.status("t")?.lastError ?? "", /function "nofn" not found/);
    await store.create("function", "nofn", fnRecord("nofn"));
    await sleep(1200);
    await scheduler.stop();
    assert.ok(calls.length >= 1);
    assert.equal(scheduler.status("t")?.state, "active");
    assert.equal(scheduler.status("t")?.lastError, undefined);
  });
});
