import { DEFAULT_LIMITS, DEFAULT_RETRY, type FunctionRecord, WasmletError } from "../core/index.js";
import type { RouteContext } from "./context.js";
import { readJson, sendEmpty, sendJson } from "./http-util.js";
import { ROUTES_LOCK } from "./keyed-lock.js";
import { createFunctionSchema, parseBody, updateFunctionSchema } from "./schemas.js";
import { checkImageReference, makeVersion, memoryProblem } from "./source.js";

async function getOr404(ctx: RouteContext, name: string): Promise<FunctionRecord> {
  const fn = await ctx.deps.store.get("function", name);
  if (!fn) throw new WasmletError("NOT_FOUND", `function "${name}" not found`);
  return fn;
}

async function deployed(ctx: RouteContext, fn: FunctionRecord): Promise<void> {
  if (!ctx.deps.onDeploy) return;
  try {
    await ctx.deps.onDeploy(fn);
  } catch (e) {
    // The function is stored and will be prepared on its first request; a failed warm-up is not the caller's error.
    console.error(
      `wasmlet api: preparing function "${fn.name}" failed: ${e instanceof Error ? e.message : e}`,
    );
  }
}

export async function listFunctions(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: await ctx.deps.store.list("function") });
}

export async function getFunction(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, await getOr404(ctx, ctx.params[0]));
}

export async function createFunction(ctx: RouteContext): Promise<void> {
  const input = parseBody(createFunctionSchema, await readJson(ctx.req));
  const fn = await ctx.locks.run(input.name, async () => {
    const { store } = ctx.deps;
    if (await store.get("function", input.name))
      throw new WasmletError("ALREADY_EXISTS", `name: function "${input.name}" already exists`);
    if (input.image !== undefined) checkImageReference(input.image);
    const limits = { ...DEFAULT_LIMITS, ...input.limits };
    const version = await makeVersion(ctx.deps, input.name, 1, input, limits.memoryMiB);
    const now = new Date().toISOString();
    const record: FunctionRecord = {
      name: input.name,
      contract: input.contract ?? "command",
      args: input.args ?? [],
      env: input.env ?? {},
      limits,
      current: version,
      versions: [version],
      createdAt: now,
      updatedAt: now,
    };
    if (input.retry) record.retry = { ...DEFAULT_RETRY, ...input.retry };
    await store.create("function", record.name, record);
    return record;
  });
  await deployed(ctx, fn);
  sendJson(ctx.res, 201, fn);
}

export async function updateFunction(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await getOr404(ctx, name);
  const input = parseBody(updateFunctionSchema, await readJson(ctx.req));
  const { fn, newVersion } = await ctx.locks.run(name, async () => {
    const old = await getOr404(ctx, name);
    const fn: FunctionRecord = {
      ...old,
      contract: input.contract ?? old.contract,
      args: input.args ?? old.args,
      env: input.env ?? old.env,
      limits: { ...old.limits, ...input.limits },
      updatedAt: new Date().toISOString(),
    };
    if (input.retry) fn.retry = { ...DEFAULT_RETRY, ...old.retry, ...input.retry };
    const newVersion = input.code !== undefined || input.image !== undefined;
    if (newVersion) {
      const last = Math.max(...old.versions.map((v) => v.version));
      const version = await makeVersion(ctx.deps, name, last + 1, input, fn.limits.memoryMiB);
      fn.current = version;
      fn.versions = [...old.versions, version];
    } else if (input.limits?.memoryMiB !== undefined) {
      const problem = memoryProblem(old.current.initialMemoryPages ?? 0, fn.limits.memoryMiB);
      if (problem)
        throw new WasmletError(
          "INVALID_ARGUMENT",
          `limits.memoryMiB: the current version (${old.current.version}) cannot run under it: ${problem}`,
        );
    }
    await ctx.deps.store.update("function", name, fn);
    return { fn, newVersion };
  });
  if (newVersion) await deployed(ctx, fn);
  sendJson(ctx.res, 200, fn);
}

export async function deleteFunction(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  // Under the routes lock too, so no trigger can start pointing at the function while it goes.
  await ctx.locks.run(name, () =>
    ctx.locks.run(ROUTES_LOCK, async () => {
      const { store } = ctx.deps;
      await getOr404(ctx, name);
      const users = (await store.list("httptrigger")).filter((t) => t.function === name).map((t) => t.name);
      if (users.length > 0)
        throw new WasmletError(
          "CONFLICT",
          `function "${name}" is used by HTTP trigger${users.length > 1 ? "s" : ""} ${users.join(", ")}; delete ${users.length > 1 ? "them" : "it"} first`,
        );
      await store.delete("function", name);
      await store.deleteLogs(name);
    }),
  );
  sendEmpty(ctx.res, 204);
}

function nonNegativeInt(params: URLSearchParams, key: string, min: number): number | undefined {
  const raw = params.get(key);
  if (raw === null || raw === "") return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new WasmletError("INVALID_ARGUMENT", `${key}: must be an integer >= ${min}, got "${raw}"`);
  return Number(raw);
}

export async function functionLogs(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const q = new URLSearchParams(ctx.rawQuery);
  const afterId = nonNegativeInt(q, "after", 0);
  const limit = nonNegativeInt(q, "limit", 1);
  await getOr404(ctx, name);
  const { store } = ctx.deps;
  // `dropped`: invocation records lost in all because the log writer fell behind (not among the items).
  sendJson(ctx.res, 200, {
    items: await store.readLogs(name, { afterId, limit }),
    dropped: await store.droppedLogs(name),
  });
}
