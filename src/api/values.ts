// Secrets and configs: named sets of key → value that functions mount (`/secrets/<name>/<key>`,
// `/configs/<name>/<key>`). A secret's values are sealed (secrets/) before the store sees them, and no answer of
// this API ever holds one: get and list show names and keys.
import { type FunctionRecord, type ValueKind, valueUses, WasmletError } from "../core/index.js";
import { sendEmpty, sendJson } from "../http/index.js";
import { openSecret, type SecretKey, sealSecret } from "../secrets/index.js";
import type { ConfigRecord, SecretRecord, Store } from "../store/index.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";

/**
 * The request body as JSON; when it is not JSON, the parser's message (which quotes the text around the fault,
 * a secret's value perhaps) is left out of the answer.
 */
async function readBody(ctx: RouteContext): Promise<unknown> {
  try {
    return await readJson(ctx.req);
  } catch (e) {
    if (e instanceof WasmletError && e.message.startsWith("body: not valid JSON"))
      throw new WasmletError("INVALID_ARGUMENT", "body: not valid JSON");
    throw e;
  }
}

import { VALUES_LOCK } from "./keyed-lock.js";
import { parseBody } from "./schemas.js";
import { createValuesSchema, MAX_VALUE_BYTES, MAX_VALUE_KEYS, updateValuesSchema } from "./value-schemas.js";

/** What the API shows of a secret: never its values. */
export interface SecretView {
  name: string;
  keys: string[];
  labels?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  /** `get` only: the functions that name it. */
  usedBy?: string[];
}

/** What the API shows of a config: its values too (they are not secret). */
export interface ConfigView extends ConfigRecord {
  /** `get` only: the functions that name it. */
  usedBy?: string[];
}

function secretView(r: SecretRecord, usedBy?: string[]): SecretView {
  return {
    name: r.name,
    keys: r.keys,
    ...(r.labels ? { labels: r.labels } : {}),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(usedBy ? { usedBy } : {}),
  };
}

function keyOf(ctx: RouteContext): SecretKey {
  const key = ctx.deps.secretKey;
  if (!key) throw new WasmletError("UNAVAILABLE", "this server has no secret key: it cannot keep secrets");
  return key;
}

/** The functions that name `kind` `name` (mounted, or in their environment), sorted. */
export async function functionsUsing(store: Store, kind: ValueKind, name: string): Promise<string[]> {
  return (await store.list("function")).filter((f) => valueUses(f)[kind].has(name)).map((f) => f.name);
}

/** Throws NOT_FOUND naming the field for the first secret or config a function names that does not exist. */
export async function checkValueRefs(
  store: Store,
  fn: Pick<FunctionRecord, "secrets" | "configs" | "envFrom">,
): Promise<void> {
  const uses = valueUses(fn);
  for (const name of uses.secret)
    if (uses.config.has(name))
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `secrets: "${name}" is also a config of the function; wasi:config/store keys (<name>/<key>) would clash`,
      );
  const found = new Map<string, Set<string>>();
  for (const kind of ["secret", "config"] as const)
    for (const name of uses[kind]) {
      const record = await store.get(kind, name);
      if (!record)
        throw new WasmletError(
          "INVALID_ARGUMENT",
          `${kind === "secret" ? "secrets" : "configs"}: ${kind} "${name}" not found (create it first: wasmlet ${kind} create --name ${name} ...)`,
        );
      found.set(
        `${kind}/${name}`,
        new Set(
          kind === "secret" ? (record as SecretRecord).keys : Object.keys((record as ConfigRecord).data),
        ),
      );
    }
  for (const [variable, ref] of Object.entries(fn.envFrom ?? {}))
    if (!found.get(`${ref.kind}/${ref.name}`)?.has(ref.key))
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `envFrom.${variable}: ${ref.kind} "${ref.name}" has no key "${ref.key}"`,
      );
}

async function getOr404<K extends ValueKind>(ctx: RouteContext, kind: K, name: string) {
  const r = await ctx.deps.store.get(kind, name);
  if (!r) throw new WasmletError("NOT_FOUND", `${kind} "${name}" not found`);
  return r;
}

function checkSize(data: Record<string, string>): void {
  if (Object.keys(data).length > MAX_VALUE_KEYS)
    throw new WasmletError("INVALID_ARGUMENT", `data: must have at most ${MAX_VALUE_KEYS} keys`);
  const bytes = Object.values(data).reduce((n, v) => n + Buffer.byteLength(v), 0);
  if (bytes > MAX_VALUE_BYTES)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `data: values add up to ${bytes} bytes; at most ${MAX_VALUE_BYTES}`,
    );
}

/** The new data of an update: merged into the old, or replacing it; keys to remove must exist. */
function nextData(
  kind: ValueKind,
  name: string,
  old: Record<string, string>,
  input: { data?: Record<string, string>; removeKeys?: string[]; replace?: boolean },
): Record<string, string> {
  const data = input.replace ? { ...input.data } : { ...old, ...input.data };
  for (const k of input.removeKeys ?? []) {
    if (!Object.hasOwn(data, k))
      throw new WasmletError("INVALID_ARGUMENT", `removeKeys: ${kind} "${name}" has no key "${k}"`);
    delete data[k];
  }
  checkSize(data);
  return data;
}

/** Keys a function's environment takes from the set that the update would remove (each a problem). */
async function checkKeysKept(ctx: RouteContext, kind: ValueKind, name: string, keys: Set<string>) {
  for (const fn of await ctx.deps.store.list("function"))
    for (const [variable, ref] of Object.entries(fn.envFrom ?? {}))
      if (ref.kind === kind && ref.name === name && !keys.has(ref.key))
        throw new WasmletError(
          "CONFLICT",
          `${kind} "${name}": function ${fn.name} takes key "${ref.key}" into ${variable}; change the function first`,
        );
}

export async function listSecrets(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: (await ctx.deps.store.list("secret")).map((r) => secretView(r)) });
}

export async function getSecret(ctx: RouteContext): Promise<void> {
  const r = await getOr404(ctx, "secret", ctx.params[0]);
  sendJson(ctx.res, 200, secretView(r, await functionsUsing(ctx.deps.store, "secret", r.name)));
}

export async function createSecret(ctx: RouteContext): Promise<void> {
  const input = parseBody(createValuesSchema, await readBody(ctx));
  const key = keyOf(ctx);
  const now = new Date().toISOString();
  const record: SecretRecord = {
    name: input.name,
    ...sealSecret(key, input.name, input.data),
    ...(input.labels ? { labels: input.labels } : {}),
    createdAt: now,
    updatedAt: now,
  };
  await ctx.locks.run(VALUES_LOCK, async () => {
    if (await ctx.deps.store.get("secret", input.name))
      throw new WasmletError("ALREADY_EXISTS", `name: secret "${input.name}" already exists`);
    await ctx.deps.store.create("secret", input.name, record);
  });
  sendJson(ctx.res, 201, secretView(record));
}

/** PUT /secrets/{name}: the functions that mount it see the new values from their next invocation. */
export async function updateSecret(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await getOr404(ctx, "secret", name);
  const input = parseBody(updateValuesSchema, await readBody(ctx));
  const key = keyOf(ctx);
  const record = await ctx.locks.run(VALUES_LOCK, async () => {
    const old = await getOr404(ctx, "secret", name);
    const data = nextData("secret", name, openSecret(key, old), input);
    await checkKeysKept(ctx, "secret", name, new Set(Object.keys(data)));
    const next: SecretRecord = {
      ...old,
      ...sealSecret(key, name, data),
      labels: input.labels ?? old.labels,
      updatedAt: new Date().toISOString(),
    };
    await ctx.deps.store.update("secret", name, next);
    return next;
  });
  sendJson(ctx.res, 200, secretView(record));
}

export async function deleteSecret(ctx: RouteContext): Promise<void> {
  await deleteValues(ctx, "secret");
}

export async function listConfigs(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: await ctx.deps.store.list("config") });
}

export async function getConfig(ctx: RouteContext): Promise<void> {
  const r = await getOr404(ctx, "config", ctx.params[0]);
  const view: ConfigView = { ...r, usedBy: await functionsUsing(ctx.deps.store, "config", r.name) };
  sendJson(ctx.res, 200, view);
}

export async function createConfig(ctx: RouteContext): Promise<void> {
  const input = parseBody(createValuesSchema, await readBody(ctx));
  const now = new Date().toISOString();
  const record: ConfigRecord = {
    name: input.name,
    data: input.data,
    ...(input.labels ? { labels: input.labels } : {}),
    createdAt: now,
    updatedAt: now,
  };
  await ctx.locks.run(VALUES_LOCK, async () => {
    if (await ctx.deps.store.get("config", input.name))
      throw new WasmletError("ALREADY_EXISTS", `name: config "${input.name}" already exists`);
    await ctx.deps.store.create("config", input.name, record);
  });
  sendJson(ctx.res, 201, record);
}

/** PUT /configs/{name}: the functions that mount it see the new values from their next invocation. */
export async function updateConfig(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await getOr404(ctx, "config", name);
  const input = parseBody(updateValuesSchema, await readBody(ctx));
  const record = await ctx.locks.run(VALUES_LOCK, async () => {
    const old = await getOr404(ctx, "config", name);
    const data = nextData("config", name, old.data, input);
    await checkKeysKept(ctx, "config", name, new Set(Object.keys(data)));
    const next: ConfigRecord = {
      ...old,
      data,
      labels: input.labels ?? old.labels,
      updatedAt: new Date().toISOString(),
    };
    await ctx.deps.store.update("config", name, next);
    return next;
  });
  sendJson(ctx.res, 200, record);
}

export async function deleteConfig(ctx: RouteContext): Promise<void> {
  await deleteValues(ctx, "config");
}

/** DELETE: refused while a function names the set (its invocations would fail). */
async function deleteValues(ctx: RouteContext, kind: ValueKind): Promise<void> {
  const name = ctx.params[0];
  await ctx.locks.run(VALUES_LOCK, async () => {
    await getOr404(ctx, kind, name);
    const users = await functionsUsing(ctx.deps.store, kind, name);
    if (users.length > 0)
      throw new WasmletError(
        "CONFLICT",
        `${kind} "${name}" is used by function${users.length > 1 ? "s" : ""} ${users.join(", ")}; remove it from ${users.length > 1 ? "them" : "it"} (fn update --${kind === "secret" ? "no-secrets" : "no-configs"}) or delete ${users.length > 1 ? "them" : "it"} first`,
      );
    await ctx.deps.store.delete(kind, name);
  });
  sendEmpty(ctx.res, 204);
}
