import type { FunctionRecord, TriggerStatus } from "../core/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import type { Store } from "../store/index.js";

/** Credentials and address of the NATS server that queue triggers use (`serve --nats`). */
export interface NatsConfig {
  /** `nats://host:port`; user and password may be in the URL (`nats://u:p@host:4222`). */
  url: string;
  user?: string;
  pass?: string;
  token?: string;
}

/** What every trigger kind is given by the composition root. */
export interface TriggerContext {
  /** Where its triggers are kept; it follows the store's change feed for its kind. */
  store: Store;
  /**
   * Runs one invocation through the runtime, under the function's limits, as an HTTP request would run;
   * never rejects (failures are responses) and logs the invocation with `req.trigger`.
   */
  invoke(fn: FunctionRecord, req: InvocationRequest): Promise<InvocationResponse>;
  /** One line to the server's log. */
  log(line: string): void;
  /** The broker of queue triggers; absent: queue triggers show state "error" with the reason. */
  nats?: NatsConfig;
}

/**
 * One kind of trigger running in the serving process (the control process only, so that with `--workers N` an
 * event starts one invocation, not N).
 */
export interface Trigger {
  /** Reads its triggers from the store and follows the change feed; resolves once every trigger is armed. */
  start(): Promise<void>;
  /** Stops starting invocations (none starts once it resolves); running ones finish on their own. */
  stop(): Promise<void>;
  /** The live state of the trigger named `name`, or undefined when it has none (not stored, or not yet read). */
  status(name: string): TriggerStatus | undefined;
}
