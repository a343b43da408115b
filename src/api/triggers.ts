import { type HttpMethod, type HttpTriggerRecord, routeFunctions, WasmletError } from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import type { Store } from "../store/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { ROUTES_LOCK } from "./keyed-lock.js";
import { functionOr404 } from "./lifecycle.js";
import { createHttpTriggerSchema, parseBody, updateHttpTriggerSchema } from "./schemas.js";

/**
 * Routes by clash key, so that a create compares itself with the routes on the same path shape only: listing
 * every route made each create O(routes), and deploying 10,000 functions O(n²). Built from the store on first
 * use; kept current by this API's own creates (done under ROUTES_LOCK); any other change to the routes seen
 * on the store's feed (a delete, another writer) drops it, to be rebuilt on the next create.
 */
class ClashIndex {
  private byKey: Map<string, HttpTriggerRecord[]> | undefined;
  /** Feed events this API is about to cause, which must not drop the index. */
  private readonly expected = new Set<string>();

  constructor(private readonly store: Store) {
    store.watch((c) => {
      if (c.kind === "httptrigger" && !this.expected.delete(`${c.op}/${c.name}`)) this.byKey = undefined;
    });
  }

  async sameShape(key: string): Promise<HttpTriggerRecord[]> {
    if (!this.byKey) {
      const byKey = new Map<string, HttpTriggerRecord[]>();
      for (const t of await this.store.list("httptrigger"))
        byKey.set(routeKey(t), [...(byKey.get(routeKey(t)) ?? []), t]);
      this.byKey = byKey;
    }
    return this.byKey.get(key) ?? [];
  }

  /** Stores a new route (the caller holds ROUTES_LOCK and has checked for clashes). */
  async create(t: HttpTriggerRecord): Promise<void> {
    const event = `create/${t.name}`;
    this.expected.add(event);
    try {
      await this.store.create("httptrigger", t.name, t);
    } catch (e) {
      this.expected.delete(event);
      throw e;
    }
    const key = routeKey(t);
    this.byKey?.set(key, [...(this.byKey.get(key) ?? []), t]);
  }
}

const clashIndexes = new WeakMap<Store, ClashIndex>();
function clashIndex(store: Store): ClashIndex {
  let index = clashIndexes.get(store);
  if (!index) {
    index = new ClashIndex(store);
    clashIndexes.set(store, index);
  }
  return index;
}

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
    ...(input.weights ? { weights: input.weights } : {}),
    methods: [...new Set(input.methods ?? (["GET"] satisfies HttpMethod[]))],
    match,
    path,
    createdAt: new Date().toISOString(),
  };
  if (input.async) record.async = true;
  // One lock for all routes: the clash check and the write must not interleave with another create.
  await ctx.locks.run(ROUTES_LOCK, async () => {
    const { store } = ctx.deps;
    if (await store.get("httptrigger", record.name))
      throw new WasmletError("ALREADY_EXISTS", `name: HTTP trigger "${record.name}" already exists`);
    for (const f of routeFunctions(record))
      await functionOr404(store, f, record.weights ? `weights.${f}` : "function");
    const index = clashIndex(store);
    for (const other of await index.sameShape(routeKey(record))) {
      const common = other.methods.filter((m) => record.methods.includes(m));
      if (common.length > 0)
        throw new WasmletError(
          "CONFLICT",
          `${input.url !== undefined ? "url" : "prefix"}: ${common.join(", ")} ${record.path} is already routed by HTTP trigger "${other.name}" (${other.path})`,
        );
    }
    await index.create(record);
  });
  // Served as written when the answer goes out (this process's router; others follow the feed).
  await ctx.deps.routesApplied?.();
  sendJson(ctx.res, 201, record);
}

/**
 * `PUT /triggers/http/:name {function?, weights?}`: moves a route's traffic (a canary step, a rollback). With
 * `weights`, `function` defaults to the route's current one if it is among them, else the heaviest.
 */
export async function updateHttpTrigger(ctx: RouteContext): Promise<void> {
  const input = parseBody(updateHttpTriggerSchema, await readJson(ctx.req));
  const record = await ctx.locks.run(ROUTES_LOCK, async () => {
    const { store } = ctx.deps;
    const old = await getOr404(ctx, ctx.params[0]);
    const weights = input.weights === undefined ? old.weights : (input.weights ?? undefined);
    let fn = input.function ?? old.function;
    if (weights && !Object.hasOwn(weights, fn)) {
      if (input.function !== undefined)
        throw new WasmletError("INVALID_ARGUMENT", `function: "${fn}" must be one of the weighted functions`);
      fn = Object.entries(weights).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
    }
    const next: HttpTriggerRecord = { ...old, function: fn };
    if (weights) next.weights = weights;
    else delete next.weights;
    for (const f of routeFunctions(next))
      await functionOr404(store, f, next.weights ? `weights.${f}` : "function");
    await store.update("httptrigger", next.name, next);
    return next;
  });
  await ctx.deps.routesApplied?.();
  sendJson(ctx.res, 200, record);
}

export async function deleteHttpTrigger(ctx: RouteContext): Promise<void> {
  await ctx.locks.run(ROUTES_LOCK, () => ctx.deps.store.delete("httptrigger", ctx.params[0]));
  await ctx.deps.routesApplied?.();
  sendEmpty(ctx.res, 204);
}
