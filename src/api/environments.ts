import { WasmletError } from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import type { EnvironmentRecord } from "../store/index.js";
import { checkBuilder } from "./builds.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { createEnvironmentSchema, updateEnvironmentSchema } from "./package-schemas.js";
import { parseBody } from "./schemas.js";

/** Lock key of an environment (a `:` never occurs in names). */
const envLock = (name: string): string => `env:${name}`;

async function getOr404(ctx: RouteContext, name: string): Promise<EnvironmentRecord> {
  const e = await ctx.deps.store.get("environment", name);
  if (!e) throw new WasmletError("NOT_FOUND", `environment "${name}" not found`);
  return e;
}

export async function listEnvironments(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: await ctx.deps.store.list("environment") });
}

export async function getEnvironment(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, await getOr404(ctx, ctx.params[0]));
}

export async function createEnvironment(ctx: RouteContext): Promise<void> {
  const input = parseBody(createEnvironmentSchema, await readJson(ctx.req));
  checkBuilder(ctx.deps, input.builder);
  const now = new Date().toISOString();
  const env: EnvironmentRecord = {
    name: input.name,
    builder: input.builder,
    buildCommand: input.buildCommand || undefined,
    labels: input.labels,
    createdAt: now,
    updatedAt: now,
  };
  await ctx.locks.run(envLock(env.name), async () => {
    if (await ctx.deps.store.get("environment", env.name))
      throw new WasmletError("ALREADY_EXISTS", `name: environment "${env.name}" already exists`);
    await ctx.deps.store.create("environment", env.name, env);
  });
  sendJson(ctx.res, 201, env);
}

/** PUT /environments/{name}: changes the preset; packages built from it pick it up on their next build. */
export async function updateEnvironment(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await getOr404(ctx, name);
  const input = parseBody(updateEnvironmentSchema, await readJson(ctx.req));
  if (input.builder !== undefined) checkBuilder(ctx.deps, input.builder);
  const env = await ctx.locks.run(envLock(name), async () => {
    const old = await getOr404(ctx, name);
    const next: EnvironmentRecord = {
      ...old,
      builder: input.builder ?? old.builder,
      buildCommand: input.buildCommand !== undefined ? input.buildCommand || undefined : old.buildCommand,
      labels: input.labels ?? old.labels,
      updatedAt: new Date().toISOString(),
    };
    await ctx.deps.store.update("environment", name, next);
    return next;
  });
  sendJson(ctx.res, 200, env);
}

/** DELETE /environments/{name}: refused while a package names it. */
export async function deleteEnvironment(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await ctx.locks.run(envLock(name), async () => {
    await getOr404(ctx, name);
    const users = (await ctx.deps.store.list("package")).filter((p) => p.environment === name);
    if (users.length > 0)
      throw new WasmletError(
        "CONFLICT",
        `environment "${name}" is used by package${users.length > 1 ? "s" : ""} ${users.map((p) => p.name).join(", ")}; delete or change ${users.length > 1 ? "them" : "it"} first`,
      );
    await ctx.deps.store.delete("environment", name);
  });
  sendEmpty(ctx.res, 204);
}
