import { archiveTooLarge, MAX_SOURCE_ARCHIVE_BYTES, unpackArchive } from "../client/index.js";
import { WasmletError } from "../core/index.js";
import { readBody, sendEmpty, sendJson } from "../http/index.js";
import type { PackageRecord } from "../store/index.js";
import { checkBuilder, packageLock } from "./builds.js";
import type { RouteContext } from "./context.js";
import { readJson } from "./http-util.js";
import { createPackageSchema, functionDraftSchema, updatePackageSchema } from "./package-schemas.js";
import { fetchSource, pushSource } from "./package-source.js";
import { parseBody } from "./schemas.js";

/** A JSON body carrying a base64 archive of up to MAX_SOURCE_ARCHIVE_BYTES, plus room for the other fields. */
const MAX_PACKAGE_BODY_BYTES = Math.ceil((MAX_SOURCE_ARCHIVE_BYTES * 4) / 3) + 1024 * 1024;

async function readPackageJson(ctx: RouteContext): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await readBody(ctx.req, MAX_PACKAGE_BODY_BYTES);
  } catch (e) {
    if (e instanceof WasmletError && e.code === "PAYLOAD_TOO_LARGE") throw archiveTooLarge(0);
    throw e;
  }
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `body: not valid JSON (${(e as Error).message})`);
  }
}

/** Decodes and checks an uploaded archive: within the cap and a readable tar+gzip with files. */
async function decodeArchive(b64: string): Promise<Uint8Array> {
  const archive = new Uint8Array(Buffer.from(b64, "base64"));
  if (archive.length > MAX_SOURCE_ARCHIVE_BYTES) throw archiveTooLarge(archive.length);
  await unpackArchive(archive);
  return archive;
}

async function getOr404(ctx: RouteContext, name: string): Promise<PackageRecord> {
  const p = await ctx.deps.store.get("package", name);
  if (!p) throw new WasmletError("NOT_FOUND", `package "${name}" not found`);
  return p;
}

/** The builder and default build command of an environment, or NOT_FOUND naming the field. */
async function fromEnvironment(
  ctx: RouteContext,
  env: string,
): Promise<{ builder: string; buildCommand?: string }> {
  const e = await ctx.deps.store.get("environment", env);
  if (!e) throw new WasmletError("NOT_FOUND", `environment: environment "${env}" not found`);
  return { builder: e.builder, buildCommand: e.buildCommand };
}

export async function listPackages(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, { items: await ctx.deps.store.list("package") });
}

export async function getPackage(ctx: RouteContext): Promise<void> {
  sendJson(ctx.res, 200, await getOr404(ctx, ctx.params[0]));
}

/** POST /packages: stores the source and queues its build; answers 202 with the pending package. */
export async function createPackage(ctx: RouteContext): Promise<void> {
  const input = parseBody(createPackageSchema, await readPackageJson(ctx));
  const { deps } = ctx;
  const preset = input.environment !== undefined ? await fromEnvironment(ctx, input.environment) : undefined;
  const builder = checkBuilder(deps, preset?.builder ?? (input.builder as string));
  const archive = await decodeArchive(input.archive);
  const record = await ctx.locks.run(packageLock(input.name), async () => {
    if (await deps.store.get("package", input.name))
      throw new WasmletError("ALREADY_EXISTS", `name: package "${input.name}" already exists`);
    if (input.function && (await deps.store.get("function", input.function.name)))
      throw new WasmletError(
        "ALREADY_EXISTS",
        `function.name: function "${input.function.name}" already exists`,
      );
    const source = await pushSource(deps, input.name, 1, archive, input.fileName);
    const now = new Date().toISOString();
    const p: PackageRecord = {
      name: input.name,
      source: { ...source, size: archive.length, fileName: input.fileName },
      builder,
      environment: input.environment,
      buildCommand: input.buildCommand || preset?.buildCommand || undefined,
      status: "pending",
      buildLog: "",
      generation: 1,
      pendingFunctions: input.function ? [input.function] : undefined,
      labels: input.labels,
      createdAt: now,
      updatedAt: now,
    };
    await deps.store.create("package", p.name, p);
    return p;
  });
  ctx.builds.start(record.name, record.generation);
  sendJson(ctx.res, 202, record);
}

/** PUT /packages/{name}: new source and/or builder settings; always starts a new build (202). */
export async function updatePackage(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  await getOr404(ctx, name);
  const input = parseBody(updatePackageSchema, await readPackageJson(ctx));
  const { deps } = ctx;
  const preset = input.environment !== undefined ? await fromEnvironment(ctx, input.environment) : undefined;
  const newBuilder = preset?.builder ?? input.builder;
  if (newBuilder !== undefined) checkBuilder(deps, newBuilder);
  const archive = input.archive !== undefined ? await decodeArchive(input.archive) : undefined;
  const record = await ctx.locks.run(packageLock(name), async () => {
    const old = await getOr404(ctx, name);
    const generation = old.generation + 1;
    const p: PackageRecord = {
      ...old,
      builder: newBuilder ?? old.builder,
      environment: input.builder !== undefined ? undefined : (input.environment ?? old.environment),
      buildCommand:
        input.buildCommand !== undefined
          ? input.buildCommand || undefined
          : preset
            ? preset.buildCommand
            : old.buildCommand,
      labels: input.labels ?? old.labels,
      status: "pending",
      buildLog: "",
      generation,
      updatedAt: new Date().toISOString(),
    };
    if (archive) {
      const fileName = input.fileName ?? old.source.fileName;
      const source = await pushSource(deps, name, generation, archive, fileName);
      p.source = { ...source, size: archive.length, fileName };
    }
    await deps.store.update("package", name, p);
    return p;
  });
  ctx.builds.start(name, record.generation);
  sendJson(ctx.res, 202, record);
}

/** POST /packages/{name}/rebuild: builds the stored source again (202). */
export async function rebuildPackage(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const record = await ctx.locks.run(packageLock(name), async () => {
    const old = await getOr404(ctx, name);
    const p: PackageRecord = {
      ...old,
      status: "pending",
      buildLog: "",
      generation: old.generation + 1,
      updatedAt: new Date().toISOString(),
    };
    await ctx.deps.store.update("package", name, p);
    return p;
  });
  ctx.builds.start(name, record.generation);
  sendJson(ctx.res, 202, record);
}

/** DELETE /packages/{name}[?force=true]: refused while functions use it, unless forced (they keep their versions). */
export async function deletePackage(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const force = new URLSearchParams(ctx.rawQuery).get("force") === "true";
  await ctx.locks.run(packageLock(name), async () => {
    const { store } = ctx.deps;
    await getOr404(ctx, name);
    const users = (await store.list("function")).filter((f) => f.package === name);
    if (users.length > 0 && !force)
      throw new WasmletError(
        "CONFLICT",
        `package "${name}" is used by function${users.length > 1 ? "s" : ""} ${users.map((f) => f.name).join(", ")}; delete ${users.length > 1 ? "them" : "it"} first or use --force`,
      );
    for (const u of users)
      await ctx.locks.run(u.name, async () => {
        const f = await store.get("function", u.name);
        if (f?.package === name) await store.update("function", f.name, { ...f, package: undefined });
      });
    await store.delete("package", name);
  });
  sendEmpty(ctx.res, 204);
}

/** GET /packages/{name}/source: the uploaded archive, as stored. */
export async function packageSource(ctx: RouteContext): Promise<void> {
  const p = await getOr404(ctx, ctx.params[0]);
  const bytes = await fetchSource(ctx.deps, p.name, p.source.digest);
  ctx.res.writeHead(200, {
    "content-type": "application/gzip",
    "content-length": bytes.length,
    "content-disposition": `attachment; filename="${p.name}.tar.gz"`,
    "x-wasmlet-source-name": encodeURIComponent(p.source.fileName),
  });
  ctx.res.end(bytes);
}

/**
 * POST /packages/{name}/functions: binds a function to the package. With a successful build it is created or
 * updated at once (200 + the function); otherwise it is remembered and created when the build succeeds (202).
 */
export async function bindFunction(ctx: RouteContext): Promise<void> {
  const name = ctx.params[0];
  const draft = parseBody(functionDraftSchema, await readJson(ctx.req));
  const pending = await ctx.locks.run(packageLock(name), async () => {
    const p = await getOr404(ctx, name);
    if (p.status === "succeeded") return undefined;
    const drafts = (p.pendingFunctions ?? []).filter((d) => d.name !== draft.name);
    const next = { ...p, pendingFunctions: [...drafts, draft], updatedAt: new Date().toISOString() };
    await ctx.deps.store.update("package", name, next);
    return next;
  });
  if (pending) {
    sendJson(ctx.res, 202, { pending: true, package: pending });
    return;
  }
  const fn = await ctx.builds.deployTo(await getOr404(ctx, name), draft);
  sendJson(ctx.res, 200, fn);
}
