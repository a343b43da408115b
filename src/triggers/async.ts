import {
  type AsyncInvocation,
  DEFAULT_RETRY,
  type FunctionRecord,
  type TriggerStatus,
} from "../core/index.js";
import { triggerRequest } from "./request.js";
import type { Trigger, TriggerContext } from "./types.js";

/** Router processes write invocations straight into the store: the runner looks for due ones this often. */
const POLL_MS = 100;
/**
 * Most asynchronous invocations running at once in the server (each still passes its function's gate, so a
 * function's concurrency and queue limits hold). 32 with a 100 ms poll capped a hello function at ~300/s.
 */
const MAX_RUNNING = 256;
/** With a backlog, claim again once this many runs have finished. */
const CLAIM_BATCH = 32;
/** Wait before an attempt whose outcome could not be stored runs again. */
const REQUEUE_MS = 1000;
/** Longest body of a result kept with the invocation. */
export const MAX_RESULT_BYTES = 64 * 1024;
/** Finished invocations are kept this long, then purged. */
const RETENTION_MS = 24 * 3600 * 1000;
const PURGE_EVERY_MS = 10 * 60 * 1000;

export interface AsyncOptions {
  pollMs?: number;
  /** Finished invocations older than this are purged (default a day), every `purgeEveryMs` (default 10 min). */
  retentionMs?: number;
  purgeEveryMs?: number;
}

/**
 * Runs the asynchronous invocations the router accepted (202): claims due ones from the store, runs each through
 * the runtime, and writes the outcome back — succeeded with its result; pending again with exponential backoff
 * and jitter after a 5xx, timeout or trap (the function's retry policy); dead at once after a 4xx other than
 * 408/429, after its last retry, or once older than the policy's max age. Invocations a crash left running run
 * again on start. Finished ones are kept for a day.
 */
export class AsyncInvocations implements Trigger {
  #timer: NodeJS.Timeout | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  #running = 0;
  #polling = false;
  #stopped = false;
  /** The last claim took all it could: more are probably due. */
  #backlog = false;
  #pollSoon = false;
  #toSave: AsyncInvocation[] = [];
  /** Function records by name, dropped on every change of the function (the store's feed). */
  readonly #functions = new Map<string, FunctionRecord>();
  #unwatch: (() => void) | undefined;
  #saved: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(
    private readonly ctx: TriggerContext,
    private readonly options: AsyncOptions = {},
  ) {}

  async start(): Promise<void> {
    this.#unwatch = this.ctx.store.watch((c) => {
      if (c.kind === "function") this.#functions.delete(c.name);
    });
    const requeued = await this.ctx.store.requeueRunning();
    if (requeued > 0)
      this.ctx.log(`wasmlet: ${requeued} asynchronous invocations interrupted by a stop run again`);
    this.#timer = setInterval(() => void this.#poll(), this.options.pollMs ?? POLL_MS);
    this.#timer.unref();
    const retention = this.options.retentionMs ?? RETENTION_MS;
    this.#purgeTimer = setInterval(() => {
      this.ctx.store
        .purgeInvocations({ beforeMs: Date.now() - retention })
        .catch((e) => this.ctx.log(`wasmlet: cannot purge old invocations: ${message(e)}`));
    }, this.options.purgeEveryMs ?? PURGE_EVERY_MS);
    this.#purgeTimer.unref();
    void this.#poll();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch?.();
    clearInterval(this.#timer);
    clearInterval(this.#purgeTimer);
    await Promise.all(this.#inFlight);
  }

  status(): TriggerStatus | undefined {
    return undefined;
  }

  /** Polls on the next turn of the event loop, once however many runs finish meanwhile. */
  #soon(): void {
    if (this.#pollSoon) return;
    this.#pollSoon = true;
    setImmediate(() => {
      this.#pollSoon = false;
      void this.#poll();
    });
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped || this.#running >= MAX_RUNNING) return;
    this.#polling = true;
    try {
      const room = MAX_RUNNING - this.#running;
      const due = await this.ctx.store.claimInvocations(Date.now(), room);
      for (const inv of due) {
        this.#running++;
        const p = this.#run(inv)
          .catch((e) => this.#requeue(inv, e))
          .finally(() => {
            this.#running--;
            this.#inFlight.delete(p);
            // A backlog is drained as fast as runs finish, a batch at a time (a claim is a transaction).
            if (this.#backlog && MAX_RUNNING - this.#running >= CLAIM_BATCH) this.#soon();
          });
        this.#inFlight.add(p);
      }
      this.#backlog = due.length === room;
    } catch (e) {
      this.ctx.log(`wasmlet: cannot read asynchronous invocations: ${message(e)}`);
    } finally {
      this.#polling = false;
    }
  }

  /**
   * An attempt that failed outside the function (its outcome could not be stored, say) is pending again after
   * a short wait, instead of staying `running` until the next restart.
   */
  async #requeue(inv: AsyncInvocation, e: unknown): Promise<void> {
    this.ctx.log(`wasmlet: invocation ${inv.id}: ${message(e)}: it runs again`);
    const at = Date.now();
    await this.#save({
      ...inv,
      status: "pending",
      notBefore: at + REQUEUE_MS,
      lastError: message(e),
      updatedAt: new Date(at).toISOString(),
    }).catch((e2) => this.ctx.log(`wasmlet: invocation ${inv.id}: ${message(e2)}`));
  }

  async #run(inv: AsyncInvocation): Promise<void> {
    let fn = this.#functions.get(inv.function);
    if (!fn) {
      fn = await this.ctx.store.get("function", inv.function);
      if (fn) this.#functions.set(fn.name, fn);
    }
    const policy = fn?.retry ?? DEFAULT_RETRY;
    const now = Date.now();
    if (now - Date.parse(inv.ageFrom) > policy.maxAgeMs) {
      await this.#finish(inv, "dead", `older than the function's max age (${policy.maxAgeMs} ms)`);
      return;
    }
    const outcome = fn
      ? await this.#invoke(fn, inv)
      : { status: 503, headers: [], body: Buffer.from(`function "${inv.function}" not found`) };
    const result = {
      status: outcome.status,
      headers: outcome.headers,
      body: Buffer.from(outcome.body.subarray(0, MAX_RESULT_BYTES)).toString("base64"),
      ...(outcome.body.byteLength > MAX_RESULT_BYTES ? { truncated: true } : {}),
    };
    if (outcome.status < 400) {
      await this.#finish({ ...inv, result, lastError: undefined }, "succeeded");
      return;
    }
    const error = `status ${outcome.status}: ${Buffer.from(outcome.body.subarray(0, 512)).toString("utf8").trim()}`;
    const retryable = !(outcome.status < 500 && outcome.status !== 408 && outcome.status !== 429);
    const backoff = policy.backoffMs * 2 ** (inv.attempts - 1) * (0.8 + Math.random() * 0.4);
    const tooOld = Date.now() + backoff - Date.parse(inv.ageFrom) > policy.maxAgeMs;
    if (retryable && inv.attempts <= policy.retries && !tooOld) {
      const at = Date.now();
      await this.#save({
        ...inv,
        status: "pending",
        notBefore: Math.round(at + backoff),
        lastError: error,
        updatedAt: new Date(at).toISOString(),
      });
      return;
    }
    const why = !retryable
      ? error
      : tooOld
        ? `${error} (the next retry would pass the max age)`
        : `${error} (after ${inv.attempts} attempts)`;
    await this.#finish({ ...inv, result }, "dead", why);
  }

  #invoke(fn: FunctionRecord, inv: AsyncInvocation) {
    return this.ctx.invoke(
      fn,
      triggerRequest({
        trigger: { kind: "async", name: inv.route ?? inv.function, id: inv.id, attempt: inv.attempts },
        method: inv.request.method,
        url: inv.request.url,
        headers: inv.request.headers,
        body: Buffer.from(inv.request.body, "base64"),
        type: "dev.wasmlet.invocation",
        source: `/invocations/${inv.id}`,
        time: new Date(inv.acceptedAt),
        route: inv.request.route,
      }),
    );
  }

  /**
   * Writes an outcome back with the others of this turn of the event loop, in one transaction; resolves once it
   * is stored.
   */
  #save(inv: AsyncInvocation): Promise<void> {
    this.#toSave.push(inv);
    this.#saved ??= new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        const batch = this.#toSave.splice(0);
        this.#saved = undefined;
        this.ctx.store.saveInvocations(batch).then(resolve, reject);
      }),
    );
    return this.#saved;
  }

  async #finish(inv: AsyncInvocation, status: "succeeded" | "dead", lastError?: string): Promise<void> {
    await this.#save({
      ...inv,
      status,
      lastError,
      updatedAt: new Date().toISOString(),
    });
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
