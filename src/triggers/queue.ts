import { setTimeout as sleep } from "node:timers/promises";
import {
  type FunctionRecord,
  limitsOf,
  type MessageQueueTriggerRecord,
  type TriggerStatus,
} from "../core/index.js";
import type { Change } from "../store/index.js";
import type { Binding, Broker, Consumption, Delivery } from "./broker.js";
import { NatsBroker } from "./nats.js";
import { triggerRequest } from "./request.js";
import type { Trigger, TriggerContext } from "./types.js";

/** Message brokers by `mqtype`: how one is made from the server's configuration, and the flag that configures it. */
export const BROKERS = {
  nats: {
    flag: "--nats nats://HOST:4222",
    make: (ctx: TriggerContext) => ctx.nats && new NatsBroker(ctx.nats),
  },
} satisfies Record<string, { flag: string; make(ctx: TriggerContext): Broker | undefined }>;
export type MqType = keyof typeof BROKERS;
export const MQ_TYPES = Object.keys(BROKERS) as MqType[];

/** The broker's ack wait is the function's timeout plus this: a message is never redelivered while it runs. */
const ACK_MARGIN_MS = 30_000;
/**
 * Most messages of one trigger in flight at once (and never more than the function's concurrency). More would
 * overlap the response's publish round trip, but every message in flight at a crash runs again after it.
 */
const MAX_IN_FLIGHT = 64;
/** Least time between two "handled" transactions of a trigger (see QueueTriggers.#markHandled). */
const MARK_WINDOW_MS = 1;
/** How long a handled message is remembered (a broker redelivers what it lost soon after it restarts). */
const HANDLED_MS = 3600 * 1000;
const PRUNE_EVERY_MS = 10 * 60 * 1000;
/** Longest text of a failure carried in the error topic's headers. */
const MAX_ERROR_CHARS = 512;

export interface QueueOptions {
  /** First retry delay; doubled per attempt, with ±20 % jitter, up to `maxBackoffMs`. Default 1 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Wait between attempts to bind a trigger (broker unreachable, function missing). Default 2 s. */
  rebindMs?: number;
  /** How often a running delivery tells the broker it is still working; default a third of the ack wait. */
  workingMs?: number;
  /** Makes the broker of an mqtype (tests give a fake); default: BROKERS. */
  broker?: (mqtype: string) => Broker | undefined;
}

interface Bound {
  record: MessageQueueTriggerRecord;
  status: TriggerStatus;
  /** Bumped on every change: a binding loop of an older generation stops. */
  gen: number;
  binding?: Binding;
  consumption?: Consumption;
  ackWaitMs: number;
}

/**
 * Message-queue triggers: each one bound to the stream that holds its topic (created when none does) through a
 * durable consumer with explicit acks. A message runs the function as a POST; a 2xx result is published to the
 * response topic (when set) and the message acked; a failure is retried with exponential backoff up to
 * `maxRetries`, then published with the error to the error topic and terminated. A 4xx other than 408/429 is
 * the message's fault and is not retried.
 */
export class QueueTriggers implements Trigger {
  readonly #triggers = new Map<string, Bound>();
  readonly #brokers = new Map<string, Broker | undefined>();
  readonly #functions = new Map<string, FunctionRecord>();
  readonly #marks = new Map<string, { ids: string[]; written: Promise<void> }>();
  /** When each trigger's last "handled" transaction was written (performance.now()). */
  readonly #markedAt = new Map<string, number>();
  #pruneTimer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #stopped = false;

  constructor(
    private readonly ctx: TriggerContext,
    private readonly options: QueueOptions = {},
  ) {}

  async start(): Promise<void> {
    this.#unwatch = this.ctx.store.watch((c) => this.#changed(c));
    this.#pruneTimer = setInterval(() => {
      this.ctx.store
        .pruneHandled(Date.now() - HANDLED_MS)
        .catch((e) => this.ctx.log(`wasmlet: cannot prune handled messages: ${message(e)}`));
    }, PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
    for (const r of await this.ctx.store.list("mqtrigger")) if (!this.#triggers.has(r.name)) this.#apply(r);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch?.();
    clearInterval(this.#pruneTimer);
    await Promise.all([...this.#triggers.values()].map((b) => b.consumption?.stop()));
    await Promise.all([...this.#brokers.values()].map((b) => b?.close()));
  }

  status(name: string): TriggerStatus | undefined {
    const b = this.#triggers.get(name);
    if (!b) return undefined;
    const s = structuredClone(b.status);
    const problem = this.#brokers.get(b.record.mqtype)?.problem();
    if (problem && s.state === "active") {
      s.state = "error";
      s.lastError = problem;
    }
    return s;
  }

  #changed(c: Change): void {
    if (this.#stopped) return;
    if (c.kind === "function") {
      this.#functions.delete(c.name);
      // A new timeout may need a longer ack wait: bind again (the consumer is updated, nothing is lost).
      for (const b of this.#triggers.values()) if (b.record.function === c.name) this.#apply(b.record);
      return;
    }
    if (c.kind !== "mqtrigger") return;
    const b = this.#triggers.get(c.name);
    const gen = b ? ++b.gen : undefined;
    if (c.op === "delete") {
      this.#triggers.delete(c.name);
      if (b) void this.#teardown(b, true);
      return;
    }
    this.ctx.store.get("mqtrigger", c.name).then(
      (r) => {
        if (r && !this.#stopped && this.#triggers.get(c.name)?.gen === gen) this.#apply(r);
      },
      (e) => this.ctx.log(`wasmlet: queue trigger ${c.name}: cannot read it from the store: ${message(e)}`),
    );
  }

  #apply(record: MessageQueueTriggerRecord): void {
    let b = this.#triggers.get(record.name);
    const old = b && { record: b.record, binding: b.binding, consumption: b.consumption };
    if (!b) {
      b = { record, gen: 0, ackWaitMs: 0, status: { state: "pending", fired: 0, failed: 0 } };
      this.#triggers.set(record.name, b);
    }
    const gen = ++b.gen;
    b.record = record;
    b.binding = undefined;
    b.consumption = undefined;
    const bound = b;
    void (async () => {
      await old?.consumption?.stop();
      // Another topic is another consumer: the old one would keep its messages pending forever.
      if (old?.binding && old.record.topic !== record.topic)
        await this.#broker(old.record.mqtype)
          ?.unbind(old.binding)
          .catch((e) => this.ctx.log(`wasmlet: queue trigger ${record.name}: ${message(e)}`));
      await this.#bindLoop(bound, gen);
    })();
  }

  async #teardown(b: Bound, unbind: boolean): Promise<void> {
    await b.consumption?.stop();
    if (unbind && b.binding)
      await this.#broker(b.record.mqtype)
        ?.unbind(b.binding)
        .catch((e) =>
          this.ctx.log(`wasmlet: queue trigger ${b.record.name}: cannot delete its consumer: ${message(e)}`),
        );
  }

  #broker(mqtype: string): Broker | undefined {
    if (!this.#brokers.has(mqtype)) {
      const make = this.options.broker ?? ((t: string) => BROKERS[t as MqType]?.make(this.ctx));
      this.#brokers.set(mqtype, make(mqtype));
    }
    return this.#brokers.get(mqtype);
  }

  /** Binds and consumes until the trigger changes or the server stops; retries every `rebindMs` on failure. */
  async #bindLoop(b: Bound, gen: number): Promise<void> {
    const live = () => !this.#stopped && b.gen === gen;
    const { record, status } = b;
    while (live()) {
      const broker = this.#broker(record.mqtype);
      if (!broker) {
        const flag = BROKERS[record.mqtype as MqType]?.flag ?? "a broker";
        this.#fail(
          status,
          `no ${record.mqtype} broker configured: start wasmlet serve with ${flag}`,
          record.name,
        );
        return;
      }
      try {
        const fn = await this.ctx.store.get("function", record.function);
        if (!fn) throw new Error(`function "${record.function}" not found`);
        const limits = limitsOf(fn);
        b.ackWaitMs = limits.timeoutMs + ACK_MARGIN_MS;
        const binding = await broker.bind(record, b.ackWaitMs);
        if (!live()) return;
        b.binding = binding;
        Object.assign(status, {
          stream: binding.stream,
          streamCreated: binding.streamCreated,
          consumer: binding.consumer,
        });
        const consumption = await broker.consume(binding, Math.min(limits.concurrency, MAX_IN_FLIGHT), (d) =>
          this.#deliver(b, broker, d),
        );
        if (!live()) {
          await consumption.stop();
          return;
        }
        b.consumption = consumption;
        status.state = "active";
        status.lastError = undefined;
        const reason = await consumption.ended;
        if (!live()) return;
        this.#fail(status, reason, record.name);
      } catch (e) {
        if (!live()) return;
        this.#fail(status, message(e), record.name);
      }
      await sleep(this.options.rebindMs ?? 2000);
    }
  }

  /**
   * Marks a message handled, in one transaction with the others finished in this turn of the event loop, and no
   * sooner than MARK_WINDOW_MS after the previous one: runs on worker threads each end in a turn of their own.
   */
  #markHandled(key: string, id: string): Promise<void> {
    let batch = this.#marks.get(key);
    if (!batch) {
      const ids: string[] = [];
      const write = (resolve: () => void, reject: (e: unknown) => void) => {
        this.#marks.delete(key);
        this.#markedAt.set(key, performance.now());
        this.ctx.store.markHandled(key, ids, Date.now()).then(resolve, reject);
      };
      const wait = (this.#markedAt.get(key) ?? Number.NEGATIVE_INFINITY) + MARK_WINDOW_MS - performance.now();
      const written = new Promise<void>((resolve, reject) => {
        if (wait > 0) setTimeout(() => write(resolve, reject), wait);
        else setImmediate(() => write(resolve, reject));
      });
      batch = { ids, written };
      this.#marks.set(key, batch);
    }
    batch.ids.push(id);
    return batch.written;
  }

  /** The function's record, read once per change of it (a store read per message was 6 % of the CPU). */
  async #function(name: string): Promise<FunctionRecord | undefined> {
    let fn = this.#functions.get(name);
    if (!fn) {
      fn = await this.ctx.store.get("function", name).catch(() => undefined);
      if (fn) this.#functions.set(name, fn);
    }
    return fn;
  }

  #fail(status: TriggerStatus, why: string, name: string): void {
    if (status.lastError !== why) this.ctx.log(`wasmlet: queue trigger ${name}: ${why}`);
    status.state = "error";
    status.lastError = why;
  }

  /** One attempt at one message: run it, then ack, retry later, or give up to the error topic. */
  async #deliver(b: Bound, broker: Broker, d: Delivery): Promise<void> {
    const { record, status } = b;
    // A broker that crashed can lose acks it had taken and deliver again what ran (nats-server 2.9 after a
    // kill -9: ~30 % of 1,000 messages): what this trigger finished is remembered for HANDLED_MS.
    const key = b.binding ? `mqt/${record.name}/${b.binding.stream}@${b.binding.streamSince}` : undefined;
    if (key && (await this.ctx.store.wasHandled(key, d.id).catch(() => false))) {
      status.skipped = (status.skipped ?? 0) + 1;
      d.ack();
      return;
    }
    const done = async () => {
      if (key)
        await this.#markHandled(key, d.id).catch((e) =>
          this.ctx.log(`wasmlet: queue trigger ${record.name}: ${message(e)}`),
        );
    };
    let result: { status: number; error?: string };
    const fn = await this.#function(record.function);
    if (!fn) result = { status: 503, error: `function "${record.function}" not found` };
    else {
      // Ack wait already outlasts the function's timeout; working() also covers a timeout raised since binding.
      const keepAlive = setInterval(() => d.working(), this.options.workingMs ?? b.ackWaitMs / 3);
      try {
        status.fired++;
        status.last = { startedAt: new Date().toISOString() };
        const res = await this.ctx.invoke(
          fn,
          triggerRequest({
            trigger: { kind: "mqt", name: record.name, id: d.id, attempt: d.attempt },
            method: "POST",
            url: "/",
            headers: { ...d.headers, "content-type": record.contentType },
            body: d.data,
            type: "dev.wasmlet.mqt",
            source: `/mqt/${record.name}`,
            time: d.time,
          }),
        );
        status.last.status = res.status;
        if (res.status >= 200 && res.status < 300) {
          if (record.respTopic) {
            const contentType = res.headers.find(([k]) => k.toLowerCase() === "content-type")?.[1];
            await broker.publish(
              record.respTopic,
              res.body,
              {
                "Wasmlet-Correlation-Id": d.id,
                "Wasmlet-Trigger": record.name,
                "Wasmlet-Status": String(res.status),
                ...(contentType ? { "Content-Type": headerSafe(contentType) } : {}),
              },
              `${d.id}/response`,
            );
          }
          await done();
          d.ack();
          return;
        }
        result = { status: res.status, error: Buffer.from(res.body).toString("utf8") };
      } catch (e) {
        // The runtime never rejects: this is the broker failing to take the response. Try the message again.
        d.nak(this.#backoff(d.attempt));
        this.#fail(status, `cannot publish to ${record.respTopic}: ${message(e)}`, record.name);
        return;
      } finally {
        clearInterval(keepAlive);
      }
    }
    const retryable = !(
      result.status >= 400 &&
      result.status < 500 &&
      result.status !== 408 &&
      result.status !== 429
    );
    if (retryable && d.attempt <= record.maxRetries) {
      d.nak(this.#backoff(d.attempt));
      return;
    }
    try {
      if (record.errorTopic)
        await broker.publish(
          record.errorTopic,
          d.data,
          {
            ...Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k, headerSafe(v)])),
            "Wasmlet-Correlation-Id": d.id,
            "Wasmlet-Trigger": record.name,
            "Wasmlet-Error-Status": String(result.status),
            "Wasmlet-Attempts": String(d.attempt),
            "Wasmlet-Error": headerSafe(result.error ?? "").slice(0, MAX_ERROR_CHARS),
          },
          `${d.id}/error`,
        );
    } catch (e) {
      d.nak(this.#backoff(d.attempt));
      this.#fail(status, `cannot publish to ${record.errorTopic}: ${message(e)}`, record.name);
      return;
    }
    status.failed = (status.failed ?? 0) + 1;
    await done();
    d.term(`failed with status ${result.status} after ${d.attempt} attempts`);
  }

  #backoff(attempt: number): number {
    const base = this.options.backoffMs ?? 1000;
    const max = this.options.maxBackoffMs ?? 60_000;
    const ms = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
    return Math.round(ms * (0.8 + Math.random() * 0.4));
  }
}

/** Header values cannot hold line breaks or other control characters. */
function headerSafe(v: string): string {
  return v.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
