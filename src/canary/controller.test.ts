import assert from "node:assert/strict";
import { test } from "node:test";
import type { HttpTriggerRecord } from "../core/index.js";
import type { FunctionCounts } from "../runtime/index.js";
import { type CanaryRecord, MemoryStore } from "../store/index.js";
import { CanaryController } from "./controller.js";

const NOW = "2026-01-01T00:00:00Z";

async function setup(opts: Partial<CanaryRecord> = {}) {
  const store = new MemoryStore();
  const route: HttpTriggerRecord = {
    name: "shop",
    function: "v1",
    weights: { v1: 80, v2: 20 },
    methods: ["GET"],
    match: "exact",
    path: "/shop",
    createdAt: NOW,
  };
  await store.create("httptrigger", "shop", route);
  const canary: CanaryRecord = {
    name: "shop",
    stable: "v1",
    canary: "v2",
    step: 20,
    intervalMs: 40,
    thresholdPct: 10,
    minRequests: 10,
    weight: 20,
    status: "running",
    history: [{ time: NOW, from: 0, to: 20, reason: "started" }],
    createdAt: NOW,
    updatedAt: NOW,
    ...opts,
  };
  await store.create("canary", "shop", canary);
  // The new function's counters, advanced by the test between intervals.
  const counts: FunctionCounts = { v2: { total: 0, failed: 0 } };
  const controller = new CanaryController({
    store,
    counts: async () => structuredClone(counts),
    log: () => {},
  });
  return { store, counts, controller };
}

const until = async (what: () => Promise<boolean>, ms = 3000) => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

test("healthy intervals add a step each until the new function takes the route alone", async () => {
  const { store, counts, controller } = await setup();
  const traffic = setInterval(() => {
    counts.v2.total += 10;
  }, 10);
  await controller.start();
  try {
    await until(async () => (await store.get("canary", "shop"))?.status === "succeeded");
  } finally {
    clearInterval(traffic);
    controller.stop();
  }
  const c = await store.get("canary", "shop");
  assert.deepEqual(
    c?.history.map((e) => e.to),
    [20, 40, 60, 80, 100],
  );
  assert.ok(c?.history.slice(1).every((e) => e.rate === 0 && (e.n ?? 0) >= 10));
  const route = await store.get("httptrigger", "shop");
  assert.equal(route?.function, "v2");
  assert.equal(route?.weights, undefined, "the route calls the new function alone");
});

test("over the threshold the new function goes to 0 at once and the canary fails", async () => {
  const { store, counts, controller } = await setup({ weight: 40 });
  await controller.start();
  counts.v2 = { total: 30, failed: 9 }; // 30 %
  try {
    await until(async () => (await store.get("canary", "shop"))?.status === "failed");
  } finally {
    controller.stop();
  }
  const c = await store.get("canary", "shop");
  const last = c?.history.at(-1);
  assert.deepEqual([last?.from, last?.to, last?.rate, last?.n], [40, 0, 30, 30]);
  assert.match(last?.reason ?? "", /over the threshold of 10 %/);
  assert.deepEqual((await store.get("httptrigger", "shop"))?.weights, { v1: 100, v2: 0 });
});

test("with too few invocations it holds; counts build up across intervals until it decides", async () => {
  const { store, counts, controller } = await setup();
  await controller.start();
  counts.v2.total = 4;
  await new Promise((r) => setTimeout(r, 150)); // several intervals
  assert.equal((await store.get("canary", "shop"))?.weight, 20, "held with 4 of 10 invocations");
  counts.v2.total = 12;
  await until(async () => (await store.get("canary", "shop"))?.weight === 40);
  controller.stop();
  assert.equal(
    (await store.get("canary", "shop"))?.history.at(-1)?.n,
    12,
    "the window spans the held intervals",
  );
});

test("a restarted controller carries on from the stored weight; a deleted canary stops moving weights", async () => {
  const { store, counts, controller } = await setup({ weight: 60 });
  await controller.start();
  controller.stop(); // as if the server stopped
  const again = new CanaryController({ store, counts: async () => structuredClone(counts), log: () => {} });
  await again.start();
  counts.v2.total = 50;
  await until(async () => (await store.get("canary", "shop"))?.weight === 80);
  await store.delete("canary", "shop");
  counts.v2.total = 500;
  await new Promise((r) => setTimeout(r, 150));
  again.stop();
  assert.deepEqual((await store.get("httptrigger", "shop"))?.weights, { v1: 20, v2: 80 });
});
