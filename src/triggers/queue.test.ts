import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_LIMITS, type FunctionRecord, type MessageQueueTriggerRecord } from "../core/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import { MemoryStore } from "../store/index.js";
import type { Binding, Broker, Consumption, Delivery } from "./broker.js";
import { QueueTriggers } from "./queue.js";

const T = "2030-01-01T00:00:00.000Z";

function fnRecord(name: string, timeoutMs = 5000): FunctionRecord {
  const v = { version: 1, image: `r/${name}:v1`, digest: `sha256:${"a".repeat(64)}` as const, createdAt: T };
  const limits = { ...DEFAULT_LIMITS, timeoutMs };
  return {
    name,
    contract: "command",
    args: [],
    env: {},
    limits,
    current: v,
    versions: [v],
    createdAt: T,
    updatedAt: T,
  };
}

function mqt(name: string, more: Partial<MessageQueueTriggerRecord> = {}): MessageQueueTriggerRecord {
  return {
    name,
    function: "f",
    mqtype: "nats",
    topic: "in",
    maxRetries: 2,
    contentType: "application/json",
    createdAt: T,
    updatedAt: T,
    ...more,
  };
}

interface Sent {
  subject: string;
  body: string;
  headers: Record<string, string>;
}

/** A broker in memory that redelivers a nak'ed message after its delay, as JetStream does. */
class FakeBroker implements Broker {
  sent: Sent[] = [];
  binds: { topic: string; ackWaitMs: number }[] = [];
  unbound: string[] = [];
  outcomes: { id: string; attempt: number; outcome: string; at: number }[] = [];
  working = 0;
  bindError: string | undefined;
  #handle: ((d: Delivery) => Promise<void>) | undefined;
  #seq = 0;

  async bind(t: MessageQueueTriggerRecord, ackWaitMs: number): Promise<Binding> {
    if (this.bindError) throw new Error(this.bindError);
    this.binds.push({ topic: t.topic, ackWaitMs });
    return { stream: "S", streamCreated: true, consumer: `wasmlet-${t.name}`, streamSince: T };
  }

  async consume(_b: Binding, _n: number, handle: (d: Delivery) => Promise<void>): Promise<Consumption> {
    this.#handle = handle;
    const stop = async () => {
      this.#handle = undefined;
    };
    return { ended: new Promise<string>(() => {}), stop };
  }

  /** Delivers a new message; resolves when its first attempt is handled. */
  send(body: string, headers: Record<string, string> = {}): Promise<void> {
    return this.#deliver(`S:${++this.#seq}`, body, headers, 1);
  }

  /** Delivers message `id` again as if new (a broker that lost its ack and its delivery count). */
  resend(id: string, body: string): Promise<void> {
    return this.#deliver(id, body, {}, 1);
  }

  #deliver(id: string, body: string, headers: Record<string, string>, attempt: number): Promise<void> {
    const record = (outcome: string) => this.outcomes.push({ id, attempt, outcome, at: Date.now() });
    const d: Delivery = {
      subject: "in",
      data: Buffer.from(body),
      headers,
      id,
      attempt,
      time: new Date(T),
      ack: () => record("ack"),
      nak: (ms) => {
        record(`nak ${ms}`);
        setTimeout(() => void this.#deliver(id, body, headers, attempt + 1), ms);
      },
      term: (reason) => record(`term ${reason}`),
      working: () => this.working++,
    };
    return this.#handle?.(d) ?? Promise.resolve();
  }

  async publish(subject: string, data: Uint8Array, headers: Record<string, string>): Promise<void> {
    this.sent.push({ subject, body: Buffer.from(data).toString(), headers });
  }

  async unbind(b: Binding): Promise<void> {
    this.unbound.push(b.consumer);
  }

  problem(): string | undefined {
    return undefined;
  }

  async close(): Promise<void> {}
}

/** The function: answers the status its body names ("500", "400", "sleep 350"), else 200 echoing the body. */
async function invoke(_fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse> {
  calls.push(req);
  const body = Buffer.from(req.body).toString();
  if (body.startsWith("sleep ")) await sleep(Number(body.slice(6)));
  const status = /^\d{3}$/.test(body) ? Number(body) : 200;
  return {
    status,
    headers: [["content-type", "text/plain"]],
    body: Buffer.from(status === 200 ? `re: ${body}` : `failed with ${body}\nline 2`),
  };
}
let calls: InvocationRequest[] = [];

const running: QueueTriggers[] = [];
after(async () => {
  for (const q of running) await q.stop();
});

async function setup(
  record: MessageQueueTriggerRecord,
  opts: { broker?: FakeBroker | null; timeoutMs?: number } = {},
) {
  calls = [];
  const store = new MemoryStore();
  await store.create("function", "f", fnRecord("f", opts.timeoutMs));
  await store.create("mqtrigger", record.name, record);
  const broker = opts.broker === undefined ? new FakeBroker() : opts.broker;
  const lines: string[] = [];
  const q = new QueueTriggers(
    { store, invoke, log: (l) => lines.push(l) },
    { backoffMs: 50, rebindMs: 50, workingMs: 100, broker: () => broker ?? undefined },
  );
  running.push(q);
  await q.start();
  if (broker) await waitFor(() => q.status(record.name)?.state === "active");
  return { store, broker: broker as FakeBroker, q, lines };
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(10);
  }
}

describe("QueueTriggers", () => {
  test("a 2xx result goes to the response topic with a correlation id, and the message is acked", async () => {
    const { broker, q } = await setup(mqt("m", { respTopic: "out" }));
    assert.deepEqual(
      broker.binds,
      [{ topic: "in", ackWaitMs: 35_000 }],
      "ack wait = the function's timeout + 30 s",
    );
    await broker.send("hello", { "x-id": "7" });
    assert.deepEqual(broker.sent, [
      {
        subject: "out",
        body: "re: hello",
        headers: {
          "Wasmlet-Correlation-Id": "S:1",
          "Wasmlet-Trigger": "m",
          "Wasmlet-Status": "200",
          "Content-Type": "text/plain",
        },
      },
    ]);
    assert.deepEqual(
      broker.outcomes.map((o) => o.outcome),
      ["ack"],
    );
    const req = calls[0];
    assert.equal(req.method, "POST");
    assert.equal(req.headers["content-type"], "application/json");
    assert.equal(req.headers["x-id"], "7");
    assert.deepEqual(req.trigger, { kind: "mqt", name: "m", id: "S:1", attempt: 1 });
    assert.equal(req.headers["ce-id"], "S:1");
    assert.equal(req.headers["ce-source"], "/mqt/m");
    const s = q.status("m");
    assert.equal(s?.stream, "S");
    assert.equal(s?.streamCreated, true);
    assert.equal(s?.consumer, "wasmlet-m");
    assert.equal(s?.fired, 1);
  });

  test("without a response topic a 2xx message is acked all the same", async () => {
    const { broker } = await setup(mqt("m"));
    await broker.send("x");
    assert.deepEqual(broker.sent, []);
    assert.deepEqual(
      broker.outcomes.map((o) => o.outcome),
      ["ack"],
    );
  });

  test("a failure is retried with growing backoff up to maxRetries, then goes to the error topic and is terminated", async () => {
    const { broker, q } = await setup(mqt("m", { errorTopic: "err", maxRetries: 2 }));
    await broker.send("500", { "x-id": "9" });
    await waitFor(() => broker.outcomes.some((o) => o.outcome.startsWith("term")));
    const outcomes = broker.outcomes.map((o) => o.outcome.replace(/nak \d+/, "nak"));
    assert.deepEqual(outcomes, ["nak", "nak", "term failed with status 500 after 3 attempts"]);
    assert.equal(calls.length, 3, "1 attempt + 2 retries");
    assert.deepEqual(
      calls.map((c) => c.trigger?.attempt),
      [1, 2, 3],
    );
    assert.equal(new Set(calls.map((c) => c.trigger?.id)).size, 1, "one id across attempts");
    const [first, second] = broker.outcomes.map((o) => Number(o.outcome.split(" ")[1]));
    assert.ok(first >= 40 && first <= 60, `first backoff ${first} ms (50 ± 20 %)`);
    assert.ok(second >= 80 && second <= 120, `second backoff ${second} ms (doubled)`);
    assert.equal(broker.sent.length, 1);
    const [e] = broker.sent;
    assert.equal(e.subject, "err");
    assert.equal(e.body, "500", "the original payload");
    assert.equal(e.headers["Wasmlet-Error-Status"], "500");
    assert.equal(e.headers["Wasmlet-Attempts"], "3");
    assert.equal(e.headers["Wasmlet-Error"], "failed with 500 line 2");
    assert.equal(e.headers["x-id"], "9", "the original headers");
    assert.equal(q.status("m")?.failed, 1);
  });

  test("a 4xx other than 408/429 is not retried; 408 and 429 are", async () => {
    const { broker } = await setup(mqt("m", { errorTopic: "err", maxRetries: 1 }));
    await broker.send("400");
    assert.deepEqual(
      broker.outcomes.map((o) => o.outcome),
      ["term failed with status 400 after 1 attempts"],
    );
    assert.equal(broker.sent[0].headers["Wasmlet-Error-Status"], "400");
    for (const status of ["408", "429"]) {
      broker.outcomes = [];
      await broker.send(status);
      await waitFor(() => broker.outcomes.some((o) => o.outcome.startsWith("term")));
      assert.equal(broker.outcomes.length, 2, `${status}: one retry`);
    }
  });

  test("a long run tells the broker it is still working", async () => {
    const { broker } = await setup(mqt("m"));
    await broker.send("sleep 450");
    assert.ok(broker.working >= 3, `${broker.working} working() calls in 450 ms (every 100 ms)`);
    const before = broker.working;
    await sleep(250);
    assert.equal(broker.working, before, "none after the run");
  });

  test("a broker that refuses the binding shows the error and is retried; delete removes the consumer", async () => {
    const broker = new FakeBroker();
    broker.bindError = "cannot reach NATS at nats://127.0.0.1:1 (ECONNREFUSED): check serve --nats";
    const { store, q } = await setup(mqt("m"), { broker: null });
    // setup's broker is absent: swap in the failing one through a second scheduler.
    await q.stop();
    const q2 = new QueueTriggers({ store, invoke, log: () => {} }, { rebindMs: 50, broker: () => broker });
    running.push(q2);
    await q2.start();
    await waitFor(() => q2.status("m")?.state === "error");
    assert.match(q2.status("m")?.lastError ?? "", /cannot reach NATS/);
    broker.bindError = undefined;
    await waitFor(() => q2.status("m")?.state === "active");
    await store.delete("mqtrigger", "m");
    await waitFor(() => broker.unbound.length === 1);
    assert.deepEqual(broker.unbound, ["wasmlet-m"]);
    assert.equal(q2.status("m"), undefined);
  });

  test("without a broker configured the trigger says which flag is missing", async () => {
    const { q } = await setup(mqt("m"), { broker: null });
    await waitFor(() => q.status("m")?.state === "error");
    assert.match(
      q.status("m")?.lastError ?? "",
      /no nats broker configured: start wasmlet serve with --nats nats:\/\/HOST:4222/,
    );
  });

  test("a message delivered again after it was handled (a broker that lost acks) is acked without running", async () => {
    const { broker, q } = await setup(mqt("m", { respTopic: "out", errorTopic: "err", maxRetries: 0 }));
    await broker.send("hello");
    await broker.send("400");
    assert.equal(calls.length, 2);
    await broker.resend("S:1", "hello");
    await broker.resend("S:2", "400");
    assert.equal(calls.length, 2, "neither ran again");
    assert.deepEqual(
      broker.outcomes.map((o) => o.outcome),
      ["ack", "term failed with status 400 after 1 attempts", "ack", "ack"],
    );
    assert.equal(broker.sent.length, 2, "no second response or error message");
    assert.equal(q.status("m")?.skipped, 2);
    await broker.send("again");
    assert.equal(calls.length, 3, "a new message runs");
  });
});
