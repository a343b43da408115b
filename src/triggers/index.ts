import type { TriggerKind, TriggerStatus } from "../core/index.js";
import { AsyncInvocations } from "./async.js";
import { QueueTriggers } from "./queue.js";
import { TimerScheduler } from "./timer.js";
import type { Trigger, TriggerContext } from "./types.js";

export { nextFires, parseSchedule, type Schedule, scheduleProblem } from "./cron.js";
export { BROKERS, MQ_TYPES, type MqType } from "./queue.js";
export { type TriggerEvent, triggerRequest } from "./request.js";
export type { NatsConfig, Trigger, TriggerContext } from "./types.js";

/** Every trigger kind that starts invocations without an HTTP request, by kind. */
export const TRIGGERS = {
  timer: (ctx) => new TimerScheduler(ctx),
  mqt: (ctx) => new QueueTriggers(ctx),
  async: (ctx) => new AsyncInvocations(ctx),
} satisfies Record<TriggerKind, (ctx: TriggerContext) => Trigger>;

const TRIGGER_KINDS = Object.keys(TRIGGERS) as TriggerKind[];

/** All trigger kinds, started and stopped together in the serving process. */
export class Triggers {
  readonly #kinds: Record<TriggerKind, Trigger>;

  constructor(ctx: TriggerContext) {
    const kinds: Partial<Record<TriggerKind, Trigger>> = {};
    for (const kind of Object.keys(TRIGGERS) as TriggerKind[]) kinds[kind] = TRIGGERS[kind](ctx);
    this.#kinds = kinds as Record<TriggerKind, Trigger>;
  }

  /**
   * Starts every kind (or those named: on a cluster, timers and queue triggers run on the elected node only, the
   * async runner on every node for its own invocations); resolves once each has read its triggers and armed them.
   */
  async start(kinds: readonly TriggerKind[] = TRIGGER_KINDS): Promise<void> {
    await Promise.all(kinds.map((k) => this.#kinds[k].start()));
  }

  /** No invocation of these kinds (default: all) starts once this resolves. */
  async stop(kinds: readonly TriggerKind[] = TRIGGER_KINDS): Promise<void> {
    await Promise.all(kinds.map((k) => this.#kinds[k].stop()));
  }

  /** The live state of one trigger, for the API's get and list. */
  status(kind: TriggerKind, name: string): TriggerStatus | undefined {
    return this.#kinds[kind].status(name);
  }
}
