import { type TimeTriggerRecord, type TriggerStatus, WasmletError } from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import { nextFires, parseSchedule } from "../triggers/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { functionOr404 } from "./lifecycle.js";
import { parseBody } from "./schemas.js";
import { createTimeTriggerSchema, updateTimeTriggerSchema } from "./trigger-schemas.js";

/** A time trigger as the API answers it: the stored fields and, when the server runs it, its live state. */
export type TimeTriggerView = TimeTriggerRecord & { status?: TriggerStatus };

/** Most fire times `GET /api/v1/schedule` lists. */
const MAX_ROUND = 100;

function view(ctx: RouteContext, t: TimeTriggerRecord): TimeTriggerView {
  const status = ctx.deps.triggerStatus?.("timer", t.name);
  return status ? { ...t, status } : t;
}

async function getOr404(ctx: RouteContext, name: string): Promise<TimeTriggerRecord> {
  const t = await ctx.deps.store.get("timetrigger", name);
  if (!t) throw new WasmletError("NOT_FOUND", `time trigger "${name}" not found`);
  return t;
}

export async function listTimeTriggers(ctx: RouteContext): Promise<void> {
  const items = await ctx.deps.store.list("timetrigger");
  sendJson(ctx.res, 200, { items: items.map((t) => view(ctx, t)) });
}

export async function getTimeTrigger(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, view(ctx, await getOr404(ctx, ctx.params[0])));
}

export async function createTimeTrigger(ctx: RouteContext): Promise<void> {
  const input = parseBody(createTimeTriggerSchema, await readJson(ctx.req));
  const now = new Date().toISOString();
  const record: TimeTriggerRecord = {
    name: input.name,
    function: input.function,
    cron: input.cron.trim(),
    method: input.method ?? "POST",
    subpath: input.subpath ?? "/",
    createdAt: now,
    updatedAt: now,
  };
  if (input.body !== undefined) record.body = input.body;
  await ctx.locks.run(`timetrigger/${record.name}`, async () => {
    if (await ctx.deps.store.get("timetrigger", record.name))
      throw new WasmletError("ALREADY_EXISTS", `name: time trigger "${record.name}" already exists`);
    await functionOr404(ctx.deps.store, record.function, "function");
    await ctx.deps.store.create("timetrigger", record.name, record);
  });
  // The scheduler has read the new record by now (a store read per change): its next fire is shown.
  sendJson(ctx.res, 201, view(ctx, record));
}

export async function updateTimeTrigger(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const input = parseBody(updateTimeTriggerSchema, await readJson(ctx.req));
  const updated = await ctx.locks.run(`timetrigger/${name}`, async () => {
    const old = await getOr404(ctx, name);
    if (input.function !== undefined && input.function !== old.function)
      await functionOr404(ctx.deps.store, input.function, "function");
    const record: TimeTriggerRecord = {
      ...old,
      function: input.function ?? old.function,
      cron: input.cron?.trim() ?? old.cron,
      method: input.method ?? old.method,
      subpath: input.subpath ?? old.subpath,
      updatedAt: new Date().toISOString(),
    };
    // An empty body removes it.
    if (input.body !== undefined) {
      if (input.body === "") delete record.body;
      else record.body = input.body;
    }
    await ctx.deps.store.update("timetrigger", name, record);
    return record;
  });
  sendJson(ctx.res, 200, view(ctx, updated));
}

export async function deleteTimeTrigger(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await ctx.locks.run(`timetrigger/${name}`, () => ctx.deps.store.delete("timetrigger", name));
  sendEmpty(ctx.res, 204);
}

/** `GET /api/v1/schedule?cron=EXPR&round=N`: the next N fire times of a schedule, as the server computes them. */
export async function showSchedule(ctx: RouteContext): Promise<void> {
  const q = new URLSearchParams(ctx.rawQuery);
  const cron = q.get("cron");
  if (cron === null) throw new WasmletError("INVALID_ARGUMENT", "cron: is required");
  const roundText = q.get("round") ?? "1";
  const round = Number(roundText);
  if (!/^\d+$/.test(roundText) || round < 1 || round > MAX_ROUND)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `round: "${roundText}" is not a whole number from 1 to ${MAX_ROUND}`,
    );
  const schedule = parseSchedule(cron);
  sendJson(ctx.res, 200, {
    cron,
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    now: new Date().toISOString(),
    fires: nextFires(schedule, round).map((d) => d.toISOString()),
  });
}
