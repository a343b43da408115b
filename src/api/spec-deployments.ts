import { checkName, WasmletError } from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import type { SpecDeploymentRecord } from "../store/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { specDeploymentSchema } from "./package-schemas.js";
import { parseBody } from "./schemas.js";

/** GET /specdeployments/{name}: what `spec apply` of that deployment last applied; 404 before the first. */
export async function getSpecDeployment(ctx: RouteContext): Promise<void> {
  const d = await ctx.deps.store.get("specdeployment", ctx.params[0]);
  if (!d) throw new WasmletError("NOT_FOUND", `spec deployment "${ctx.params[0]}" not found`);
  sendJson(ctx.res, 200, d);
}

/** PUT /specdeployments/{name}: replaces the record (spec apply writes it after each resource it changes). */
export async function putSpecDeployment(ctx: RouteContext): Promise<void> {
  const name = checkName(ctx.params[0], "deployment");
  const input = parseBody(specDeploymentSchema, await readJson(ctx.req));
  const record: SpecDeploymentRecord = {
    name,
    resources: input.resources,
    updatedAt: new Date().toISOString(),
  };
  await ctx.locks.run(`spec:${name}`, async () => {
    const { store } = ctx.deps;
    if (await store.get("specdeployment", name)) await store.update("specdeployment", name, record);
    else await store.create("specdeployment", name, record);
  });
  sendJson(ctx.res, 200, record);
}

export async function deleteSpecDeployment(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await ctx.locks.run(`spec:${name}`, async () => {
    if (await ctx.deps.store.get("specdeployment", name)) await ctx.deps.store.delete("specdeployment", name);
  });
  sendEmpty(ctx.res, 204);
}
