import { WasmletError } from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import type { CanaryRecord } from "../store/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { ROUTES_LOCK } from "./keyed-lock.js";
import { functionOr404 } from "./lifecycle.js";
import { createCanarySchema, parseBody } from "./schemas.js";

/** Defaults of a canary release (Flagger-like): 20 % more each minute while under 10 % failures over 20 calls. */
export const CANARY_DEFAULTS = { step: 20, intervalMs: 60_000, thresholdPct: 10, minRequests: 20 } as const;

async function getOr404(ctx: RouteContext, name: string): Promise<CanaryRecord> {
  const c = await ctx.deps.store.get("canary", name);
  if (!c) throw new WasmletError("NOT_FOUND", `canary "${name}" not found`);
  return c;
}

/**
 * `POST /canaries {route, new, step?, intervalMs?, thresholdPct?, minRequests?}`: the route sends `step` % of its
 * traffic to `new` at once; the canary controller (serve process) moves the weights from there.
 */
export async function createCanary(ctx: RouteContext): Promise<void> {
  const input = parseBody(createCanarySchema, await readJson(ctx.req));
  const record = await ctx.locks.run(ROUTES_LOCK, async () => {
    const { store } = ctx.deps;
    const route = await store.get("httptrigger", input.route);
    if (!route) throw new WasmletError("NOT_FOUND", `route: HTTP trigger "${input.route}" not found`);
    await functionOr404(store, input.new, "new");
    const running = await store.get("canary", input.route);
    if (running?.status === "running")
      throw new WasmletError(
        "CONFLICT",
        `route: a canary of ${running.canary} is already running on ${input.route}`,
      );
    if (route.weights && Object.keys(route.weights).length > 1)
      throw new WasmletError(
        "CONFLICT",
        `route: ${input.route} already splits its traffic (${Object.keys(route.weights).join(", ")}); give it one function first (route update)`,
      );
    if (route.function === input.new)
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `new: ${input.new} is what route ${input.route} already serves`,
      );
    const o = { ...CANARY_DEFAULTS, ...input };
    const now = new Date().toISOString();
    const weight = Math.min(o.step, 100);
    const c: CanaryRecord = {
      name: input.route,
      stable: route.function,
      canary: input.new,
      step: o.step,
      intervalMs: o.intervalMs,
      thresholdPct: o.thresholdPct,
      minRequests: o.minRequests,
      weight,
      status: "running",
      history: [{ time: now, from: 0, to: weight, reason: "started" }],
      createdAt: now,
      updatedAt: now,
    };
    await store.update("httptrigger", route.name, {
      ...route,
      weights: { [route.function]: 100 - weight, [input.new]: weight },
    });
    // A finished canary of the route is replaced by the new one.
    if (running) await store.update("canary", c.name, c);
    else await store.create("canary", c.name, c);
    return c;
  });
  sendJson(ctx.res, 201, record);
}

export async function listCanaries(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: await ctx.deps.store.list("canary") });
}

export async function getCanary(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, await getOr404(ctx, ctx.params[0]));
}

/** `DELETE /canaries/:name`: stops the controller; the route keeps the weights it has now. */
export async function deleteCanary(ctx: RouteContext): Promise<void> {
  await ctx.locks.run(ROUTES_LOCK, () => ctx.deps.store.delete("canary", ctx.params[0]));
  sendEmpty(ctx.res, 204);
}
