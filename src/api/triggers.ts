import { type HttpMethod, type HttpTriggerRecord, WasmletError } from "../core/index.js";
import type { RouteContext } from "./context.js";
import { readJson, sendEmpty, sendJson } from "./http-util.js";
import { ROUTES_LOCK } from "./keyed-lock.js";
import { createHttpTriggerSchema, parseBody } from "./schemas.js";

/** Two routes clash when they match the same way on the same path shape; `{param}` names do not matter. */
function routeKey(t: Pick<HttpTriggerRecord, "match" | "path">): string {
  return `${t.match} ${t.path.replace(/\{[^/}]*\}/g, "{}")}`;
}

async function getOr404(ctx: RouteContext, name: string): Promise<HttpTriggerRecord> {
  const t = await ctx.deps.store.get("httptrigger", name);
  if (!t) throw new WasmletError("NOT_FOUND", `HTTP trigger "${name}" not found`);
  return t;
}

export async function listHttpTriggers(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: await ctx.deps.store.list("httptrigger") });
}

export async function getHttpTrigger(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, await getOr404(ctx, ctx.params[0]));
}

export async function createHttpTrigger(ctx: RouteContext): Promise<void> {
  const input = parseBody(createHttpTriggerSchema, await readJson(ctx.req));
  const match = input.url !== undefined ? "exact" : "prefix";
  let path = (input.url ?? input.prefix) as string;
  // "/a/" and "/a" are the same prefix; store one spelling so clashes are found.
  if (match === "prefix" && path.length > 1) path = path.replace(/\/+$/, "");
  const record: HttpTriggerRecord = {
    name: input.name,
    function: input.function,
    methods: [...new Set(input.methods ?? (["GET"] satisfies HttpMethod[]))],
    match,
    path,
    createdAt: new Date().toISOString(),
  };
  // One lock for all routes: the clash check and the write must not interleave with another create.
  await ctx.locks.run(ROUTES_LOCK, async () => {
    const { store } = ctx.deps;
    if (await store.get("httptrigger", record.name))
      throw new WasmletError("ALREADY_EXISTS", `name: HTTP trigger "${record.name}" already exists`);
    if (!(await store.get("function", record.function)))
      throw new WasmletError("NOT_FOUND", `function: function "${record.function}" not found`);
    const key = routeKey(record);
    for (const other of await store.list("httptrigger")) {
      if (routeKey(other) !== key) continue;
      const common = other.methods.filter((m) => record.methods.includes(m));
      if (common.length > 0)
        throw new WasmletError(
          "CONFLICT",
          `${input.url !== undefined ? "url" : "prefix"}: ${common.join(", ")} ${record.path} is already routed by HTTP trigger "${other.name}" (${other.path})`,
        );
    }
    await store.create("httptrigger", record.name, record);
  });
  sendJson(ctx.res, 201, record);
}

export async function deleteHttpTrigger(ctx: RouteContext): Promise<void> {
  await ctx.locks.run(ROUTES_LOCK, () => ctx.deps.store.delete("httptrigger", ctx.params[0]));
  sendEmpty(ctx.res, 204);
}
