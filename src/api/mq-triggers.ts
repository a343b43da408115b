import { type MessageQueueTriggerRecord, type TriggerStatus, WasmletError } from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { functionOr404 } from "./lifecycle.js";
import { parseBody } from "./schemas.js";
import { createMqTriggerSchema, updateMqTriggerSchema } from "./trigger-schemas.js";

/** A message queue trigger as the API answers it: the stored fields and its live state (stream, consumer, errors). */
export type MqTriggerView = MessageQueueTriggerRecord & { status?: TriggerStatus };

/** Fission's connector defaults: JSON bodies, a few retries. */
const DEFAULT_CONTENT_TYPE = "application/json";
const DEFAULT_MAX_RETRIES = 3;

function view(ctx: RouteContext, t: MessageQueueTriggerRecord): MqTriggerView {
  const status = ctx.deps.triggerStatus?.("mqt", t.name);
  return status ? { ...t, status } : t;
}

async function getOr404(ctx: RouteContext, name: string): Promise<MessageQueueTriggerRecord> {
  const t = await ctx.deps.store.get("mqtrigger", name);
  if (!t) throw new WasmletError("NOT_FOUND", `message queue trigger "${name}" not found`);
  return t;
}

export async function listMqTriggers(ctx: RouteContext): Promise<void> {
  const items = await ctx.deps.store.list("mqtrigger");
  sendJson(ctx.res, 200, { items: items.map((t) => view(ctx, t)) });
}

export async function getMqTrigger(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, view(ctx, await getOr404(ctx, ctx.params[0])));
}

export async function createMqTrigger(ctx: RouteContext): Promise<void> {
  const input = parseBody(createMqTriggerSchema, await readJson(ctx.req));
  const now = new Date().toISOString();
  const record: MessageQueueTriggerRecord = {
    name: input.name,
    function: input.function,
    mqtype: input.mqtype ?? "nats",
    topic: input.topic,
    maxRetries: input.maxRetries ?? DEFAULT_MAX_RETRIES,
    contentType: input.contentType ?? DEFAULT_CONTENT_TYPE,
    createdAt: now,
    updatedAt: now,
  };
  if (input.respTopic) record.respTopic = input.respTopic;
  if (input.errorTopic) record.errorTopic = input.errorTopic;
  await ctx.locks.run(`mqtrigger/${record.name}`, async () => {
    if (await ctx.deps.store.get("mqtrigger", record.name))
      throw new WasmletError("ALREADY_EXISTS", `name: message queue trigger "${record.name}" already exists`);
    await functionOr404(ctx.deps.store, record.function, "function");
    await ctx.deps.store.create("mqtrigger", record.name, record);
  });
  sendJson(ctx.res, 201, view(ctx, record));
}

export async function updateMqTrigger(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const input = parseBody(updateMqTriggerSchema, await readJson(ctx.req));
  const updated = await ctx.locks.run(`mqtrigger/${name}`, async () => {
    const old = await getOr404(ctx, name);
    if (input.function !== undefined && input.function !== old.function)
      await functionOr404(ctx.deps.store, input.function, "function");
    const record: MessageQueueTriggerRecord = {
      ...old,
      function: input.function ?? old.function,
      topic: input.topic ?? old.topic,
      maxRetries: input.maxRetries ?? old.maxRetries,
      contentType: input.contentType ?? old.contentType,
      updatedAt: new Date().toISOString(),
    };
    for (const field of ["respTopic", "errorTopic"] as const) {
      const v = input[field];
      if (v === "") delete record[field];
      else if (v !== undefined) record[field] = v;
      if (record[field] === record.topic)
        throw new WasmletError(
          "INVALID_ARGUMENT",
          `${field}: must differ from topic (the trigger would consume its own output)`,
        );
    }
    await ctx.deps.store.update("mqtrigger", name, record);
    return record;
  });
  sendJson(ctx.res, 200, view(ctx, updated));
}

export async function deleteMqTrigger(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await ctx.locks.run(`mqtrigger/${name}`, () => ctx.deps.store.delete("mqtrigger", name));
  sendEmpty(ctx.res, 204);
}
