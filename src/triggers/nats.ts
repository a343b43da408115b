import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  nanos,
  headers as natsHeaders,
} from "@nats-io/transport-node";
import type { MessageQueueTriggerRecord } from "../core/index.js";
import type { Binding, Broker, Consumption, Delivery } from "./broker.js";
import type { NatsConfig } from "./types.js";

/** Marks the streams wasmlet created, so `mqt get` can say so after a restart too. */
const OWN_STREAM = "created by wasmlet for queue triggers on ";

/** Most messages a durable consumer hands out unacknowledged, across all the server's pulls. */
const MAX_ACK_PENDING = 1000;

/**
 * Least time between two socket writes of acks, naks and publishes (see NatsBroker.#defer). A message's run holds its
 * slot until its response is stored, so this can lengthen each slot's hold by about twice the window: far less than
 * the run of 64 messages in flight takes on a busy server.
 */
const OUTBOX_WINDOW_MS = 1;

/** How long whether a stream holds a publish subject is remembered. */
const STREAM_LOOKUP_MS = 10_000;

/** A stream name for a subject: names cannot hold `.`, `*`, `>` or spaces. */
export function streamNameFor(subject: string): string {
  return `wasmlet_${subject.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** Server URL and credentials: `nats://user:pass@host:port` and `nats://token@host:port` work as the flags do. */
function connectOptions(c: NatsConfig) {
  const url = new URL(c.url.includes("://") ? c.url : `nats://${c.url}`);
  const user = c.user ?? (url.password ? decodeURIComponent(url.username) : undefined);
  const pass = c.pass ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const token = c.token ?? (!url.password && url.username ? decodeURIComponent(url.username) : undefined);
  url.username = "";
  url.password = "";
  return {
    servers: `${url.hostname}:${url.port || "4222"}`,
    display: `nats://${url.host}`,
    user,
    pass,
    token,
  };
}

const isApiError = (e: unknown, code: number) => e instanceof JetStreamApiError && e.code === code;

/** NATS JetStream: one connection that reconnects by itself once it has connected. */
export class NatsBroker implements Broker {
  #nc: Promise<NatsConnection> | undefined;
  #problem: string | undefined;
  readonly #opts;
  readonly #streams = new Map<string, { stored: boolean; until: number }>();
  /** The PubAcks awaited on the current connection. */
  #pubAcks: PubAcks | undefined;
  /**
   * Protocol writes (acks, naks, publishes) waiting to be sent together: the client flushes once per batch of
   * writes made in one go, so a busy trigger costs one socket write (and one read on the server) per batch
   * instead of two per message.
   */
  readonly #outbox: (() => void)[] = [];
  /** When the outbox was last sent (performance.now()). */
  #outboxSentAt = Number.NEGATIVE_INFINITY;
  /** The flush that follows this window's plain publishes. */
  #windowPing: Promise<void> | undefined;

  constructor(config: NatsConfig) {
    this.#opts = connectOptions(config);
  }

  /** The connection; a failed first connect rejects at once and the next call tries again. */
  #conn(): Promise<NatsConnection> {
    const { servers, display, user, pass, token } = this.#opts;
    this.#nc ??= connect({
      servers,
      user,
      pass,
      token,
      name: "wasmlet",
      // Without it every request (a JetStream publish) builds two Errors for their stack traces: 7 % of the CPU.
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    }).then(
      (nc) => {
        this.#problem = undefined;
        void (async () => {
          for await (const s of nc.status()) {
            if (s.type === "disconnect") this.#problem = `disconnected from NATS at ${display}: reconnecting`;
            else if (s.type === "reconnect") this.#problem = undefined;
          }
        })();
        return nc;
      },
      (e: unknown) => {
        this.#nc = undefined;
        const why = e instanceof Error ? e.message : String(e);
        this.#problem = `cannot reach NATS at ${display} (${why}): check serve --nats and its credentials`;
        throw new Error(this.#problem, { cause: e });
      },
    );
    return this.#nc;
  }

  problem(): string | undefined {
    return this.#problem;
  }

  /**
   * Queues a protocol write: sent with the others of this turn of the event loop at its end, and no sooner than
   * OUTBOX_WINDOW_MS after the previous batch. When runs finish on the main thread, many end in one turn; when the
   * runtime has moved the function to worker threads, each ends in a turn of its own, and per turn alone was about
   * one write per message (10,000 messages: 1,790 writes at 1,900 msg/s before the window).
   */
  #defer(write: () => void): void {
    if (this.#outbox.push(write) !== 1) return;
    const wait = this.#outboxSentAt + OUTBOX_WINDOW_MS - performance.now();
    if (wait > 0) setTimeout(() => this.#flushOutbox(), wait);
    else setImmediate(() => this.#flushOutbox());
  }

  #flushOutbox(): void {
    this.#outboxSentAt = performance.now();
    for (const write of this.#outbox.splice(0))
      try {
        write();
      } catch {
        // The connection closed: an ack that did not go out lets the message be delivered again (at least once).
      }
    this.#windowPing = undefined;
  }

  async bind(t: MessageQueueTriggerRecord, ackWaitMs: number): Promise<Binding> {
    const jsm = await jetstreamManager(await this.#conn());
    let stream: string;
    let streamCreated: boolean;
    let streamSince: string;
    try {
      stream = await jsm.streams.find(t.topic);
      const info = await jsm.streams.info(stream);
      streamCreated = info.config.description?.startsWith(OWN_STREAM) ?? false;
      streamSince = info.created;
    } catch (e) {
      if (!isApiError(e, JetStreamApiCodes.StreamNotFound)) throw e;
      stream = streamNameFor(t.topic);
      const info = await jsm.streams.add({
        name: stream,
        subjects: [t.topic],
        description: `${OWN_STREAM}${t.topic}`,
      });
      streamCreated = true;
      streamSince = info.created;
    }
    const consumer = `wasmlet-${t.name}`;
    const config = {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      filter_subject: t.topic,
      max_ack_pending: MAX_ACK_PENDING,
      // A stream made for the trigger holds only messages for it; on someone else's stream, start from now.
      deliver_policy: streamCreated ? DeliverPolicy.All : DeliverPolicy.New,
    };
    try {
      const info = await jsm.consumers.info(stream, consumer);
      if (info.config.filter_subject !== t.topic) {
        await jsm.consumers.delete(stream, consumer);
        await jsm.consumers.add(stream, config);
      } else if (info.config.ack_wait !== config.ack_wait)
        await jsm.consumers.update(stream, consumer, { ack_wait: config.ack_wait });
    } catch (e) {
      if (!isApiError(e, JetStreamApiCodes.ConsumerNotFound)) throw e;
      await jsm.consumers.add(stream, config);
    }
    return { stream, streamCreated, consumer, streamSince };
  }

  async consume(
    b: Binding,
    concurrency: number,
    handle: (d: Delivery) => Promise<void>,
  ): Promise<Consumption> {
    const js = jetstream(await this.#conn());
    const c = await js.consumers.get(b.stream, b.consumer);
    // Twice the runs in flight: the next batch is pulled while one runs (their ack wait outlasts the wait).
    const messages = await c.consume({ max_messages: concurrency * 2 });
    // A count and one waiter: a Promise.race over the runs in flight per message added a reaction to each of them.
    let running = 0;
    let slotFree: (() => void) | undefined;
    const ended = (async (): Promise<string> => {
      for await (const m of messages) {
        const h: Record<string, string> = {};
        for (const k of m.headers?.keys() ?? []) h[k.toLowerCase()] = (m.headers?.values(k) ?? []).join(", ");
        const d: Delivery = {
          subject: m.subject,
          data: m.data,
          headers: h,
          id: `${m.info.stream}:${m.info.streamSequence}`,
          attempt: m.info.deliveryCount,
          time: m.time,
          ack: () => this.#defer(() => m.ack()),
          nak: (ms) => this.#defer(() => m.nak(ms)),
          // No reason on the wire: servers before 2.10 ignore a TERM that carries one (the message stays pending).
          term: () => this.#defer(() => m.term()),
          working: () => this.#defer(() => m.working()),
        };
        running++;
        // #deliver settles every outcome itself (logs, naks); a rejection here must not end the process.
        void handle(d)
          .catch(() => undefined)
          .finally(() => {
            running--;
            slotFree?.();
            slotFree = undefined;
          });
        if (running >= concurrency) await new Promise<void>((r) => (slotFree = r));
      }
      return "the consumer ended";
    })();
    return {
      ended,
      async stop() {
        messages.stop();
        await ended.catch(() => undefined);
      },
    };
  }

  async publish(
    subject: string,
    data: Uint8Array,
    headers: Record<string, string>,
    id?: string,
  ): Promise<void> {
    const nc = await this.#conn();
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    if (await this.#stored(nc, subject)) {
      // Nats-Msg-Id: the stream drops a second message with the same id within its duplicate window (2 min).
      if (id) h.set("Nats-Msg-Id", id);
      const acks = this.#pubAcksOf(nc);
      // Pipelined: the publishes of one window go out in one write, and each resolves when its PubAck is back.
      await new Promise<void>((resolve, reject) =>
        this.#defer(() => {
          const token = acks.expect(subject, resolve, reject);
          try {
            nc.publish(subject, data, { headers: h, reply: token });
          } catch (e) {
            acks.forget(token);
            reject(e);
          }
        }),
      );
      return;
    }
    // No stream holds the subject: a plain publish reaches its subscribers. (A JetStream publish would wait for
    // an ack that a plain subscriber never sends, and fail after delivering the message.)
    // The plain publishes of one window share one flush (a PING after them: its PONG says the server has them).
    await new Promise<void>((resolve, reject) =>
      this.#defer(() => {
        try {
          nc.publish(subject, data, { headers: h });
          this.#windowPing ??= nc.flush();
          this.#windowPing.then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      }),
    );
  }

  /** The PubAck waiter of `nc`, made on its first JetStream publish. */
  #pubAcksOf(nc: NatsConnection): PubAcks {
    if (this.#pubAcks?.nc !== nc) {
      this.#pubAcks?.close();
      this.#pubAcks = new PubAcks(nc);
    }
    return this.#pubAcks;
  }

  /** Whether a stream holds `subject`; remembered for STREAM_LOOKUP_MS, so a stream made later is used soon. */
  async #stored(nc: NatsConnection, subject: string): Promise<boolean> {
    const hit = this.#streams.get(subject);
    if (hit && hit.until > Date.now()) return hit.stored;
    let stored = true;
    try {
      await (await jetstreamManager(nc)).streams.find(subject);
    } catch (e) {
      if (!isApiError(e, JetStreamApiCodes.StreamNotFound)) throw e;
      stored = false;
    }
    this.#streams.set(subject, { stored, until: Date.now() + STREAM_LOOKUP_MS });
    return stored;
  }

  async unbind(b: Binding): Promise<void> {
    const jsm = await jetstreamManager(await this.#conn());
    await jsm.consumers.delete(b.stream, b.consumer).catch((e) => {
      if (!isApiError(e, JetStreamApiCodes.ConsumerNotFound)) throw e;
    });
  }

  async close(): Promise<void> {
    // Acks and publishes already asked for reach the server before the connection drains.
    this.#flushOutbox();
    const nc = await this.#nc?.catch(() => undefined);
    this.#nc = undefined;
    const acks = this.#pubAcks;
    this.#pubAcks = undefined;
    await nc?.drain().catch(() => nc.close());
    acks?.close();
  }
}

/** How long a JetStream publish waits for its PubAck (the JetStream client's default): then it fails, to be retried. */
const PUBACK_TIMEOUT_MS = 5000;

/**
 * The PubAcks of a connection's JetStream publishes: each publish carries a reply subject under one inbox that a
 * single subscription receives. (The JetStream client's publish is a request: a timer, a promise race and an Error
 * for its stack per publish, ~10 % of the serve process's CPU under a busy queue trigger.) A publish whose PubAck
 * has not come within PUBACK_TIMEOUT_MS (say, lost in a reconnect) fails; the stream deduplicates a retry by its
 * Nats-Msg-Id.
 */
class PubAcks {
  readonly #prefix: string;
  readonly #waiting = new Map<
    string,
    { subject: string; at: number; resolve(): void; reject(e: Error): void }
  >();
  readonly #sweep: NodeJS.Timeout;
  #next = 0;

  constructor(readonly nc: NatsConnection) {
    this.#prefix = `${createInbox()}.`;
    nc.subscribe(`${this.#prefix}*`, { callback: (_err, m) => this.#acked(m) });
    this.#sweep = setInterval(() => this.#expire(Date.now() - PUBACK_TIMEOUT_MS), 1000);
    this.#sweep.unref();
  }

  /** A reply subject for one publish to `subject`; `resolve` or `reject` is called once its PubAck is read. */
  expect(subject: string, resolve: () => void, reject: (e: Error) => void): string {
    const token = `${this.#prefix}${++this.#next}`;
    this.#waiting.set(token, { subject, at: Date.now(), resolve, reject });
    return token;
  }

  forget(token: string): void {
    this.#waiting.delete(token);
  }

  #acked(m: Msg): void {
    const w = this.#waiting.get(m.subject);
    if (!w) return;
    this.#waiting.delete(m.subject);
    // No stream answered (it was deleted since it was looked up): the server's "no responders" status.
    if (m.headers?.code === 503) {
      w.reject(new Error(`publish to ${w.subject}: no JetStream stream holds the subject any more`));
      return;
    }
    let ack: { stream?: string; error?: { code?: number; description?: string } };
    try {
      ack = m.json();
    } catch {
      w.reject(
        new Error(`JetStream sent an unreadable PubAck for ${w.subject}: ${m.string().slice(0, 100)}`),
      );
      return;
    }
    if (ack.error || !ack.stream) {
      const why = ack.error ? `${ack.error.description} (${ack.error.code})` : "no stream in the PubAck";
      w.reject(new Error(`publish to ${w.subject}: JetStream did not store the message: ${why}`));
    } else w.resolve();
  }

  #expire(before: number, why = `no PubAck within ${PUBACK_TIMEOUT_MS} ms`): void {
    for (const [token, w] of this.#waiting)
      if (w.at < before) {
        this.#waiting.delete(token);
        w.reject(new Error(`publish to ${w.subject}: ${why}`));
      }
  }

  /** Fails what still waits: the connection is gone. */
  close(): void {
    clearInterval(this.#sweep);
    this.#expire(Number.POSITIVE_INFINITY, "the NATS connection closed before its PubAck came");
  }
}
