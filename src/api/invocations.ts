import { INVOCATION_STATUSES, type InvocationStatus, WasmletError } from "../core/index.js";
import { sendJson } from "../http/index.js";
import type { InvocationQuery } from "../store/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";

const MAX_LIST = 1000;

function status(v: unknown, field: string): InvocationStatus | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || !(INVOCATION_STATUSES as readonly string[]).includes(v))
    throw new WasmletError("INVALID_ARGUMENT", `${field}: must be one of ${INVOCATION_STATUSES.join(", ")}`);
  return v as InvocationStatus;
}

function text(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new WasmletError("INVALID_ARGUMENT", `${field}: must be a string`);
  return v;
}

/** `GET /api/v1/invocations?function=&status=&limit=`: newest first, with the counts per status. */
export async function listInvocations(ctx: RouteContext): Promise<void> {
  const q = new URLSearchParams(ctx.rawQuery);
  const limitText = q.get("limit") ?? "100";
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIST)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `limit: "${limitText}" is not a whole number from 1 to ${MAX_LIST}`,
    );
  const fn = text(q.get("function"), "function");
  const items = await ctx.deps.store.listInvocations({
    function: fn,
    status: status(q.get("status"), "status"),
    limit,
  });
  sendJson(ctx.res, 200, { items, counts: await ctx.deps.store.countInvocations(fn) });
}

export async function getInvocation(ctx: RouteContext): Promise<void> {
  const inv = await ctx.deps.store.getInvocation(ctx.params[0]);
  if (!inv) throw new WasmletError("NOT_FOUND", `invocation "${ctx.params[0]}" not found`);
  sendJson(ctx.res, 200, inv);
}

async function query(ctx: RouteContext): Promise<InvocationQuery> {
  const body = (await readJson(ctx.req)) as Record<string, unknown>;
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new WasmletError("INVALID_ARGUMENT", "body: must be a JSON object");
  for (const k of Object.keys(body))
    if (!["function", "id", "status"].includes(k))
      throw new WasmletError("INVALID_ARGUMENT", `${k}: unknown field`);
  return {
    function: text(body.function, "function"),
    id: text(body.id, "id"),
    status: status(body.status, "status"),
  };
}

/** `POST /api/v1/invocations/redrive {function?, id?}`: dead invocations run again (attempts and age reset). */
export async function redriveInvocations(ctx: RouteContext): Promise<void> {
  const q = await query(ctx);
  if (q.function === undefined && q.id === undefined)
    throw new WasmletError("INVALID_ARGUMENT", "function: give a function or an id to redrive");
  sendJson(ctx.res, 200, { redriven: await ctx.deps.store.redriveInvocations(q) });
}

/** `POST /api/v1/invocations/purge {function?, id?, status?}`: deletes finished (succeeded, dead) invocations. */
export async function purgeInvocations(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { purged: await ctx.deps.store.purgeInvocations(await query(ctx)) });
}
