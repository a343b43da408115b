import type { MessageQueueTriggerRecord } from "../core/index.js";

/** One message delivered to a queue trigger, on one attempt. */
export interface Delivery {
  subject: string;
  data: Uint8Array;
  /** The message's headers, names lower-cased, repeated values joined with `, `. */
  headers: Record<string, string>;
  /** The same on every attempt of this message (stream and sequence). */
  id: string;
  /** 1 on the first delivery; counts redeliveries after a crash too. */
  attempt: number;
  /** When the message was stored. */
  time: Date;
  /** Done: never delivered again. */
  ack(): void;
  /** Deliver again after `delayMs`. */
  nak(delayMs: number): void;
  /** Never deliver again (after its last attempt went to the error topic). */
  term(reason: string): void;
  /** Still being processed: restarts the broker's ack timer. */
  working(): void;
}

/** Where a trigger is bound: told by `mqt get`. */
export interface Binding {
  /** The stream that holds the topic. */
  stream: string;
  /** True when wasmlet created the stream because none held the topic. */
  streamCreated: boolean;
  /** The durable consumer's name. */
  consumer: string;
  /** When the stream was created: its sequence numbers (in `Delivery.id`) are unique only with it. */
  streamSince: string;
}

/** A running consumer of one trigger's binding. */
export interface Consumption {
  /** Stops pulling; messages in flight finish (their acks still reach the broker). */
  stop(): Promise<void>;
  /** Resolves when the consumer ends by itself (the broker went away for good): its reason. */
  readonly ended: Promise<string>;
}

/** A message broker that queue triggers consume from: one connection per server process. */
export interface Broker {
  /**
   * Finds the stream that holds the trigger's topic, or creates one, and makes sure its durable consumer exists
   * with explicit acks and `ackWaitMs`. Rejects with a message saying what failed (unreachable, refused).
   */
  bind(t: MessageQueueTriggerRecord, ackWaitMs: number): Promise<Binding>;
  /** Delivers the binding's messages to `handle`, at most `concurrency` at once, until stopped. */
  consume(b: Binding, concurrency: number, handle: (d: Delivery) => Promise<void>): Promise<Consumption>;
  /**
   * Publishes one message (into a stream when one holds the subject); resolves once the broker has it. A broker
   * that deduplicates keeps one message per `id` (a redelivered message answered twice is stored once).
   */
  publish(subject: string, data: Uint8Array, headers: Record<string, string>, id?: string): Promise<void>;
  /** Deletes a binding's durable consumer (the trigger was deleted or moved to another topic); never the stream. */
  unbind(b: Binding): Promise<void>;
  /** Why the broker cannot be used now (disconnected), or undefined. */
  problem(): string | undefined;
  close(): Promise<void>;
}
