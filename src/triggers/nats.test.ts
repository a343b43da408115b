// The NATS JetStream broker against a real `nats-server -js`.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AckPolicy, DiscardPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_LIMITS, type FunctionRecord, type MessageQueueTriggerRecord } from "../core/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import { MemoryStore } from "../store/index.js";
import { NatsBroker } from "./nats.js";
import { QueueTriggers } from "./queue.js";
import { type NatsServer, startNats } from "./test-support.js";

const T = "2030-01-01T00:00:00.000Z";
const mqt = (name: string, more: Partial<MessageQueueTriggerRecord> = {}): MessageQueueTriggerRecord => ({
  name,
  function: "f",
  mqtype: "nats",
  topic: "orders.new",
  maxRetries: 1,
  contentType: "text/plain",
  createdAt: T,
  updatedAt: T,
  ...more,
});
function fnRecord(name: string): FunctionRecord {
  const v = { version: 1, image: `r/${name}:v1`, digest: `sha256:${"a".repeat(64)}` as const, createdAt: T };
  return {
    name,
    contract: "command",
    args: [],
    env: {},
    limits: { ...DEFAULT_LIMITS, timeoutMs: 2000 },
    current: v,
    versions: [v],
    createdAt: T,
    updatedAt: T,
  };
}

let nats: NatsServer;
let nc: NatsConnection;
before(async () => {
  nats = await startNats();
  nc = await connect({ servers: `127.0.0.1:${nats.port}` });
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

/** Collects what is published on `subject` (core subscription: sees stream publishes too). */
function collect(subject: string): Msg[] {
  const got: Msg[] = [];
  const sub = nc.subscribe(subject);
  void (async () => {
    for await (const m of sub) got.push(m);
  })();
  return got;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(20);
  }
}

describe("NatsBroker", () => {
  test("binds to a stream it creates for the topic, or to the stream that holds it; a durable explicit-ack consumer", async () => {
    const broker = new NatsBroker({ url: nats.url });
    try {
      const b = await broker.bind(mqt("m1"), 32_000);
      const { streamSince, ...where } = b;
      assert.deepEqual(where, { stream: "wasmlet_orders_new", streamCreated: true, consumer: "wasmlet-m1" });
      assert.ok(Date.parse(streamSince) > 0);
      const jsm = await jetstreamManager(nc);
      const info = await jsm.consumers.info(b.stream, b.consumer);
      assert.equal(info.config.durable_name, "wasmlet-m1");
      assert.equal(info.config.ack_policy, AckPolicy.Explicit);
      assert.equal(info.config.ack_wait, 32_000 * 1e6);
      assert.equal(info.config.filter_subject, "orders.new");
      // Bound again (a restart, a longer timeout): the same consumer, its ack wait updated, the stream still "ours".
      const other = new NatsBroker({ url: nats.url });
      const again = await other.bind(mqt("m1"), 40_000);
      await other.close();
      assert.deepEqual(again, b);
      assert.equal((await jsm.consumers.info(b.stream, b.consumer)).config.ack_wait, 40_000 * 1e6);
      // Someone else's stream holding the subject is used as it is.
      await jsm.streams.add({ name: "EXT", subjects: ["ext.>"] });
      const ext = await broker.bind(mqt("m2", { topic: "ext.a" }), 32_000);
      assert.deepEqual(
        { stream: ext.stream, streamCreated: ext.streamCreated, consumer: ext.consumer },
        { stream: "EXT", streamCreated: false, consumer: "wasmlet-m2" },
      );
      await broker.unbind(again);
      await assert.rejects(jsm.consumers.info(b.stream, b.consumer), /consumer not found/);
    } finally {
      await broker.close();
    }
  });

  test("messages run the function: responses with a correlation id, failures to the error topic after retries, all acked", async () => {
    const store = new MemoryStore();
    await store.create("function", "f", fnRecord("f"));
    const calls: InvocationRequest[] = [];
    const invoke = async (_fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse> => {
      calls.push(req);
      const body = Buffer.from(req.body).toString();
      return body === "boom"
        ? { status: 500, headers: [], body: Buffer.from("it broke") }
        : { status: 200, headers: [["content-type", "text/plain"]], body: Buffer.from(`done ${body}`) };
    };
    const q = new QueueTriggers(
      { store, invoke, log: () => {}, nats: { url: nats.url } },
      { backoffMs: 100 },
    );
    const responses = collect("orders.done");
    const errors = collect("orders.failed");
    await store.create(
      "mqtrigger",
      "rt",
      mqt("rt", { topic: "orders.rt", respTopic: "orders.done", errorTopic: "orders.failed" }),
    );
    await q.start();
    try {
      await waitFor(() => q.status("rt")?.state === "active");
      const h = headers();
      h.set("X-Order", "42");
      nc.publish("orders.rt", "o-1", { headers: h });
      nc.publish("orders.rt", "boom");
      await waitFor(() => responses.length === 1 && errors.length === 1).catch((e) => {
        throw new Error(
          `${e.message}: ${responses.length} responses, ${errors.length} errors, ${calls.length} calls, ${JSON.stringify(q.status("rt"))}`,
        );
      });
      const [r] = responses;
      assert.equal(r.string(), "done o-1");
      assert.match(r.headers?.get("Wasmlet-Correlation-Id") ?? "", /^wasmlet_orders_rt:\d+$/);
      assert.equal(r.headers?.get("Content-Type"), "text/plain");
      const [e] = errors;
      assert.equal(e.string(), "boom");
      assert.equal(e.headers?.get("Wasmlet-Error-Status"), "500");
      assert.equal(e.headers?.get("Wasmlet-Attempts"), "2");
      assert.equal(e.headers?.get("Wasmlet-Error"), "it broke");
      const first = calls.find((c) => Buffer.from(c.body).toString() === "o-1");
      assert.equal(first?.headers["x-order"], "42");
      assert.equal(first?.headers["content-type"], "text/plain");
      assert.equal(calls.filter((c) => Buffer.from(c.body).toString() === "boom").length, 2);
      const jsm = await jetstreamManager(nc);
      let info = await jsm.consumers.info("wasmlet_orders_rt", "wasmlet-rt");
      await waitFor(async () => {
        info = await jsm.consumers.info("wasmlet_orders_rt", "wasmlet-rt");
        return info.num_ack_pending === 0 && info.num_pending === 0;
      }).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(info)}`);
      });
      assert.equal(q.status("rt")?.failed, 1);
    } finally {
      await q.stop();
    }
  });

  test("a publish into a stream resolves once stored: pipelined, deduplicated by id, a refusal names the stream's reason", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PUB", subjects: ["pub.ok"] });
    await jsm.streams.add({
      name: "PUB_FULL",
      subjects: ["pub.full"],
      max_msgs: 1,
      discard: DiscardPolicy.New,
    });
    const broker = new NatsBroker({ url: nats.url });
    try {
      // 300 at once: their PubAcks come back together and each resolves its own publish.
      await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          broker.publish("pub.ok", Buffer.from(`r-${i}`), { "Wasmlet-Correlation-Id": `c-${i}` }, `id-${i}`),
        ),
      );
      // A message answered twice (redelivered after a crash) carries the same id: stored once.
      await broker.publish("pub.ok", Buffer.from("r-7 again"), {}, "id-7");
      const info = await jsm.streams.info("PUB");
      assert.equal(info.state.messages, 300);
      const stored = await jsm.streams.getMessage("PUB", { seq: 8 });
      assert.equal(stored?.string(), "r-7");
      assert.equal(stored?.header.get("Wasmlet-Correlation-Id"), "c-7");
      assert.equal(stored?.header.get("Nats-Msg-Id"), "id-7");
      await broker.publish("pub.full", Buffer.from("first"), {}, "f-1");
      await assert.rejects(
        broker.publish("pub.full", Buffer.from("second"), {}, "f-2"),
        /publish to pub\.full: JetStream did not store the message: maximum messages exceeded/,
      );
    } finally {
      await broker.close();
      await jsm.streams.delete("PUB");
      await jsm.streams.delete("PUB_FULL");
    }
  });

  test("an unreachable server is named with the fix", async () => {
    const broker = new NatsBroker({ url: "nats://127.0.0.1:18299" });
    await assert.rejects(
      broker.bind(mqt("m"), 1000),
      /cannot reach NATS at nats:\/\/127\.0\.0\.1:18299 .*check serve --nats/,
    );
    assert.match(broker.problem() ?? "", /cannot reach NATS/);
    await broker.close();
  });
});

describe("NATS credentials", () => {
  test("user and password: in the URL or given apart; a wrong password is refused with the reason", async () => {
    const s = await startNats({ auth: { user: "wl", pass: "s3cret" } });
    try {
      for (const config of [
        { url: `nats://wl:s3cret@127.0.0.1:${s.port}` },
        { url: s.url, user: "wl", pass: "s3cret" },
      ]) {
        const broker = new NatsBroker(config);
        assert.equal((await broker.bind(mqt("m"), 1000)).stream, "wasmlet_orders_new");
        await broker.close();
      }
      const bad = new NatsBroker({ url: s.url, user: "wl", pass: "wrong" });
      await assert.rejects(bad.bind(mqt("m"), 1000), /cannot reach NATS .*Authorization Violation/i);
      await bad.close();
    } finally {
      await s.stop();
    }
  });

  test("a token: in the URL or given apart", async () => {
    const s = await startNats({ auth: { token: "t0ken" } });
    try {
      for (const config of [{ url: `nats://t0ken@127.0.0.1:${s.port}` }, { url: s.url, token: "t0ken" }]) {
        const broker = new NatsBroker(config);
        assert.equal((await broker.bind(mqt("m"), 1000)).consumer, "wasmlet-m");
        await broker.close();
      }
      const none = new NatsBroker({ url: s.url });
      await assert.rejects(none.bind(mqt("m"), 1000), /Authorization Violation/i);
      await none.close();
    } finally {
      await s.stop();
    }
  });
});
