import { randomUUID } from "node:crypto";
import type { TimeTriggerRecord, TriggerStatus } from "../core/index.js";
import type { Change } from "../store/index.js";
import { parseSchedule, type Schedule } from "./cron.js";
import { triggerRequest } from "./request.js";
import type { Trigger, TriggerContext } from "./types.js";

/**
 * Longest single sleep: the wall clock is read again at least this often, so a clock step (NTP) or a fire
 * weeks away (over setTimeout's 24.8-day range) is handled by re-reading, not by one long timeout.
 */
const MAX_SLEEP_MS = 30_000;

interface Armed {
  record: TimeTriggerRecord;
  schedule?: Schedule;
  timer?: NodeJS.Timeout;
  /** Epoch ms of the next fire. */
  dueAt?: number;
  /** Due time of the last fire: the next one is strictly after it, so no instant fires twice. */
  lastDueAt: number;
  /** Due time of the run in progress, if one is. */
  runningDueAt?: number;
  status: TriggerStatus;
}

/**
 * Fires time triggers: one timeout per trigger, armed for its next due time. A fire that comes late (a blocked
 * event loop, a suspended machine, a restart) runs once and the next is computed from the current time, so there
 * is never a burst of missed fires; a fire while the previous run of the same timer still goes is skipped and
 * logged. Changes from the store's feed re-arm a timer at once (in-process writes are seen synchronously, so a
 * deleted timer is disarmed before its delete returns).
 */
export class TimerScheduler implements Trigger {
  readonly #timers = new Map<string, Armed>();
  /** Bumped on every change of a name: a store read that a later change overtook is not applied. */
  readonly #generations = new Map<string, number>();
  #unwatch: (() => void) | undefined;
  #stopped = false;

  constructor(private readonly ctx: TriggerContext) {}

  async start(): Promise<void> {
    this.#unwatch = this.ctx.store.watch((c) => this.#changed(c));
    for (const r of await this.ctx.store.list("timetrigger"))
      if (!this.#generations.has(r.name) && !this.#stopped) this.#set(r);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch?.();
    // The entries stay: their state is still what `status` reports.
    for (const a of this.#timers.values()) clearTimeout(a.timer);
  }

  status(name: string): TriggerStatus | undefined {
    const s = this.#timers.get(name)?.status;
    return s && structuredClone(s);
  }

  #changed(c: Change): void {
    if (c.kind !== "timetrigger" || this.#stopped) return;
    const gen = (this.#generations.get(c.name) ?? 0) + 1;
    this.#generations.set(c.name, gen);
    if (c.op === "delete") {
      this.#remove(c.name);
      return;
    }
    // The old schedule stops now; the new one is armed once the record is read.
    clearTimeout(this.#timers.get(c.name)?.timer);
    this.ctx.store.get("timetrigger", c.name).then(
      (r) => {
        if (this.#generations.get(c.name) !== gen || this.#stopped) return;
        if (r) this.#set(r);
        else this.#remove(c.name);
      },
      (e) => this.ctx.log(`wasmlet: timer ${c.name}: cannot read it from the store: ${message(e)}`),
    );
  }

  #remove(name: string): void {
    clearTimeout(this.#timers.get(name)?.timer);
    this.#timers.delete(name);
  }

  #set(record: TimeTriggerRecord): void {
    let a = this.#timers.get(record.name);
    if (!a) {
      a = { record, lastDueAt: 0, status: { state: "active", fired: 0, skipped: 0 } };
      this.#timers.set(record.name, a);
    }
    a.record = record;
    try {
      a.schedule = parseSchedule(record.cron);
      a.status.state = "active";
      a.status.lastError = undefined;
    } catch (e) {
      a.schedule = undefined;
      a.status.state = "error";
      a.status.lastError = message(e);
    }
    this.#arm(a);
  }

  #arm(a: Armed): void {
    clearTimeout(a.timer);
    a.dueAt = undefined;
    a.status.nextFire = undefined;
    const next = a.schedule?.next(new Date(Math.max(Date.now(), a.lastDueAt)));
    if (!next) return;
    a.dueAt = next.getTime();
    a.status.nextFire = next.toISOString();
    this.#sleep(a);
  }

  #sleep(a: Armed): void {
    const delay = Math.max(0, (a.dueAt ?? 0) - Date.now());
    a.timer = setTimeout(() => this.#tick(a), Math.min(delay, MAX_SLEEP_MS));
    a.timer.unref();
  }

  #tick(a: Armed): void {
    if (this.#stopped || this.#timers.get(a.record.name) !== a || a.dueAt === undefined) return;
    if (Date.now() < a.dueAt) {
      // Woken before the due time (a long sleep's chunk, or a timeout rounded early): sleep the rest.
      this.#sleep(a);
      return;
    }
    const due = a.dueAt;
    a.lastDueAt = due;
    this.#arm(a);
    void this.#fire(a, due);
  }

  async #fire(a: Armed, due: number): Promise<void> {
    const { record, status } = a;
    if (a.runningDueAt !== undefined) {
      status.skipped = (status.skipped ?? 0) + 1;
      this.ctx.log(
        `wasmlet: timer ${record.name}: skipped the fire due at ${iso(due)}: the run due at ${iso(a.runningDueAt)} is still going`,
      );
      return;
    }
    a.runningDueAt = due;
    try {
      const fn = await this.ctx.store.get("function", record.function);
      if (!fn) {
        status.state = "error";
        status.lastError = `function "${record.function}" not found (fire due at ${iso(due)} not run)`;
        this.ctx.log(`wasmlet: timer ${record.name}: ${status.lastError}`);
        return;
      }
      const startedAt = Date.now();
      const req = triggerRequest({
        trigger: { kind: "timer", name: record.name, id: randomUUID(), attempt: 1 },
        method: record.method,
        url: record.subpath,
        headers: record.body ? { "content-type": "text/plain; charset=utf-8" } : {},
        body: Buffer.from(record.body ?? ""),
        type: "dev.wasmlet.timer",
        source: `/timers/${record.name}`,
        time: new Date(due),
      });
      status.state = "active";
      status.lastError = undefined;
      status.fired++;
      const last: NonNullable<TriggerStatus["last"]> = {
        dueAt: iso(due),
        startedAt: iso(startedAt),
        latenessMs: startedAt - due,
      };
      status.last = last;
      const res = await this.ctx.invoke(fn, req);
      last.status = res.status;
    } catch (e) {
      status.state = "error";
      status.lastError = message(e);
      this.ctx.log(`wasmlet: timer ${record.name}: ${status.lastError}`);
    } finally {
      a.runningDueAt = undefined;
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
