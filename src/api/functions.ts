import {
  DEFAULT_LIMITS,
  DEFAULT_RETRY,
  type FunctionRecord,
  routeFunctions,
  WasmletError,
} from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import { LAZY_COMPILE_MIN_BYTES } from "../wasm/index.js";
import type { RouteContext } from "./context.js";
import { type FunctionBody, readFunctionBody } from "./http-util.js";
import { ROUTES_LOCK, VALUES_LOCK } from "./keyed-lock.js";
import {
  announceDeploy,
  chooseContract,
  functionOr404,
  newFunctionRecord,
  nextVersionNumber,
} from "./lifecycle.js";
import { createFunctionSchema, parseBody, updateFunctionSchema } from "./schemas.js";
import {
  checkImageReference,
  discardEarlyImage,
  earlyImage,
  makeVersion,
  memoryProblem,
  type VersionSource,
} from "./source.js";
import { checkValueRefs } from "./values.js";

/** Sets (or, when empty, removes) what a function uses of secrets and configs, from create or update input. */
function setValueFields(
  fn: FunctionRecord,
  input: { secrets?: string[]; configs?: string[]; envFrom?: FunctionRecord["envFrom"] },
): void {
  if (input.secrets !== undefined) {
    if (input.secrets.length > 0) fn.secrets = input.secrets;
    else delete fn.secrets;
  }
  if (input.configs !== undefined) {
    if (input.configs.length > 0) fn.configs = input.configs;
    else delete fn.configs;
  }
  if (input.envFrom !== undefined) {
    if (Object.keys(input.envFrom).length > 0) fn.envFrom = input.envFrom;
    else delete fn.envFrom;
  }
}

/** Stores `fn` after checking the secrets and configs it names exist (under VALUES_LOCK, so none goes meanwhile). */
async function storeChecked(ctx: RouteContext, fn: FunctionRecord, op: "create" | "update"): Promise<void> {
  const write = () => ctx.deps.store[op]("function", fn.name, fn);
  if (fn.secrets === undefined && fn.configs === undefined && fn.envFrom === undefined) return write();
  await ctx.locks.run(VALUES_LOCK, async () => {
    await checkValueRefs(ctx.deps.store, fn);
    await write();
  });
}

/** The version source of a parsed body, with the module's bytes when they came as a multipart part. */
function withModule<T extends VersionSource>(input: T, body: FunctionBody): T {
  return body.module ? { ...input, module: body.module, compiled: body.compiled, built: body.built } : input;
}

/** A body large enough to bring a large module (LAZY_COMPILE_MIN_BYTES), whose first runs go to a worker. */
function largeUpload(ctx: RouteContext): boolean {
  return Number(ctx.req.headers["content-length"]) >= LAZY_COMPILE_MIN_BYTES;
}

/** The name a create body's fields give, if any (for an image built as the upload arrives). */
function fieldsName(fields: unknown): string | undefined {
  const name = (fields as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : undefined;
}

function getOr404(ctx: RouteContext, name: string): Promise<FunctionRecord> {
  return functionOr404(ctx.deps.store, name);
}

/** outputFile replaces stdout as the body of a `command` response; a wagi program writes its own response. */
function checkOutputFile(fn: FunctionRecord): void {
  if (fn.outputFile !== undefined && fn.contract !== "command")
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `outputFile: only a command function answers with a file (this one is ${fn.contract}); set it to null first`,
    );
}

export async function listFunctions(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: await ctx.deps.store.list("function") });
}

export async function getFunction(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, await getOr404(ctx, ctx.params[0]));
}

/**
 * Reads a create or update body (a large module compiled and imaged as it arrives, under `memoryMiB` unless the
 * fields set a cap, named `nameOf(fields)`) and hands it to `use`; an early image `use` did not take is dropped.
 */
async function withFunctionBody(
  ctx: RouteContext,
  memoryMiB: number,
  nameOf: (fields: unknown) => string | undefined,
  use: (body: FunctionBody) => Promise<void>,
): Promise<void> {
  if (largeUpload(ctx)) ctx.deps.prestartWorkers?.();
  const body = await readFunctionBody(ctx.req, memoryMiB, (fields, module, arrival) =>
    earlyImage(ctx.deps, nameOf(fields), fields, module, arrival),
  );
  try {
    await use(body);
  } finally {
    if (body.built) discardEarlyImage(body.built);
  }
}

export async function createFunction(ctx: RouteContext): Promise<void> {
  await withFunctionBody(ctx, DEFAULT_LIMITS.memoryMiB, fieldsName, (body) => createWith(ctx, body));
}

async function createWith(ctx: RouteContext, body: FunctionBody): Promise<void> {
  const input = parseBody(createFunctionSchema, body.json);
  const source = withModule(input, body);
  const fn = await ctx.locks.run(input.name, async () => {
    const { store } = ctx.deps;
    if (await store.get("function", input.name))
      throw new WasmletError("ALREADY_EXISTS", `name: function "${input.name}" already exists`);
    if (input.image !== undefined) checkImageReference(input.image);
    const limits = { ...DEFAULT_LIMITS, ...input.limits };
    const version = await makeVersion(ctx.deps, input.name, 1, source, limits.memoryMiB);
    const record = newFunctionRecord(input.name, { ...input, limits }, version);
    if (input.outputFile) record.outputFile = input.outputFile;
    if (input.retry) record.retry = { ...DEFAULT_RETRY, ...input.retry };
    checkOutputFile(record);
    setValueFields(record, input);
    await storeChecked(ctx, record, "create");
    return record;
  });
  await announceDeploy(ctx.deps, fn);
  sendJson(ctx.res, 201, fn);
}

export async function updateFunction(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const existing = await getOr404(ctx, name);
  await withFunctionBody(
    ctx,
    existing.limits.memoryMiB,
    () => name,
    (body) => updateWith(ctx, name, body),
  );
}

async function updateWith(ctx: RouteContext, name: string, body: FunctionBody): Promise<void> {
  const input = parseBody(updateFunctionSchema, body.json);
  const source = withModule(input, body);
  const { fn, newVersion } = await ctx.locks.run(name, async () => {
    const old = await getOr404(ctx, name);
    const fn: FunctionRecord = {
      ...old,
      contract: old.contract,
      args: input.args ?? old.args,
      env: input.env ?? old.env,
      limits: { ...old.limits, ...input.limits },
      updatedAt: new Date().toISOString(),
    };
    if (input.outputFile === null) delete fn.outputFile;
    else if (input.outputFile !== undefined) fn.outputFile = input.outputFile;
    if (input.retry) fn.retry = { ...DEFAULT_RETRY, ...old.retry, ...input.retry };
    const newVersion = input.code !== undefined || input.image !== undefined;
    if (newVersion) {
      const version = await makeVersion(ctx.deps, name, nextVersionNumber(old), source, fn.limits.memoryMiB);
      fn.current = version;
      fn.versions = [...old.versions, version];
      fn.contract = chooseContract(version, input.contract, old.contract);
    } else if (input.contract !== undefined) {
      fn.contract = chooseContract(old.current, input.contract);
    }
    checkOutputFile(fn);
    if (input.allowOutbound !== undefined) {
      if (input.allowOutbound.length > 0) fn.allowOutbound = input.allowOutbound;
      else delete fn.allowOutbound;
    }
    if (!newVersion && input.limits?.memoryMiB !== undefined) {
      const problem = memoryProblem(old.current.initialMemoryPages ?? 0, fn.limits.memoryMiB);
      if (problem)
        throw new WasmletError(
          "INVALID_ARGUMENT",
          `limits.memoryMiB: the current version (${old.current.version}) cannot run under it: ${problem}`,
        );
    }
    setValueFields(fn, input);
    await storeChecked(ctx, fn, "update");
    return { fn, newVersion };
  });
  if (newVersion) await announceDeploy(ctx.deps, fn);
  sendJson(ctx.res, 200, fn);
}

export async function deleteFunction(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  // Under the routes lock too, so no trigger can start pointing at the function while it goes.
  await ctx.locks.run(name, () =>
    ctx.locks.run(ROUTES_LOCK, async () => {
      const { store } = ctx.deps;
      await getOr404(ctx, name);
      const users = (await store.list("httptrigger"))
        .filter((t) => routeFunctions(t).includes(name))
        .map((t) => t.name);
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
