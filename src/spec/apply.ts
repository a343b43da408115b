import { readFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { type ApiClient, type PackageRecord, packSource } from "../client/index.js";
import {
  DEFAULT_CONTRACT,
  type Digest,
  isComponentBinary,
  isWasmletError,
  parseValueRef,
  sha256Digest,
  type ValueRef,
  WasmletError,
} from "../core/index.js";
import type { LoadedSpecs } from "./load.js";
import { type FunctionSpec, keyOf, type LoadedSpec, SPEC_KINDS, type SpecKind } from "./types.js";

/** Hooks the CLI gives apply: where lines go, and how to wait for a package build. */
export interface ApplyIo {
  /** Called once per action taken (or, at the end, to say nothing changed). */
  log(line: string): void;
  /** Called when a build must end before apply can go on; resolves with the finished package. */
  waitForBuild(name: string, generation: number): Promise<PackageRecord>;
}

export interface ApplyOptions {
  /** Remove resources this deployment created that are no longer in specs/. */
  delete?: boolean;
  /** Wait for every build apply started; a failed one makes apply fail. */
  wait?: boolean;
}

export interface ApplyResult {
  changed: number;
  unchanged: number;
  deleted: number;
  /** Builds that failed while apply waited (their logs are in the packages). */
  failed: PackageRecord[];
}

interface Prepared {
  spec: LoadedSpec;
  key: string;
  hash: string;
  archive?: { bytes: Uint8Array; fileName: string };
  /** A function's module, for a spec with `code`. */
  module?: { bytes: Uint8Array; fileName: string };
}

/** Stable JSON (sorted keys), so equal specs hash equally whatever the order in the YAML. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/** The hash apply records per resource; a package's includes the digest of its (deterministic) source archive. */
async function prepare(specs: LoadedSpecs, s: LoadedSpec): Promise<Prepared> {
  const key = keyOf(s.kind, s.metadata.name);
  if (s.kind === "Function" && s.spec.code !== undefined) {
    const path = resolve(specs.root, s.spec.code);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `${s.file}: spec.code: cannot read ${s.spec.code}: ${(e as Error).message}`,
      );
    }
    // The module's digest is part of the hash: a new build of the file is a change to apply.
    const hash = sha256Digest(canonical({ kind: s.kind, spec: s.spec, code: sha256Digest(bytes) }));
    return { spec: s, key, hash, module: { bytes, fileName: basename(path) } };
  }
  if (s.kind !== "Package")
    return { spec: s, key, hash: sha256Digest(canonical({ kind: s.kind, spec: s.spec })) };
  const { bytes, fileName } = await packSource(resolve(specs.root, s.spec.source), `${s.file}: spec.source`);
  const hash = sha256Digest(canonical({ kind: s.kind, spec: s.spec, source: sha256Digest(bytes) }));
  return { spec: s, key, hash, archive: { bytes, fileName } };
}

const notFound = (e: unknown) => {
  if (isWasmletError(e, "NOT_FOUND")) return undefined;
  throw e;
};

/** Whether the resource exists on the server. */
async function exists(client: ApiClient, kind: SpecKind, name: string): Promise<boolean> {
  const get = {
    Environment: () => client.getEnvironment(name),
    Package: () => client.getPackage(name),
    Config: () => client.getConfig(name),
    Function: () => client.getFunction(name),
    HTTPTrigger: () => client.getHttpTrigger(name),
    TimeTrigger: () => client.getTimeTrigger(name),
    MessageQueueTrigger: () => client.getMqTrigger(name),
  }[kind];
  return (await get().catch(notFound)) !== undefined;
}

async function remove(client: ApiClient, kind: SpecKind, name: string): Promise<void> {
  const del = {
    Environment: () => client.deleteEnvironment(name),
    Package: () => client.deletePackage(name),
    Config: () => client.deleteConfig(name),
    Function: () => client.deleteFunction(name),
    HTTPTrigger: () => client.deleteHttpTrigger(name),
    TimeTrigger: () => client.deleteTimeTrigger(name),
    MessageQueueTrigger: () => client.deleteMqTrigger(name),
  }[kind];
  await del().catch(notFound);
}

/**
 * Makes the server match specs/: creates or updates, in dependency order (environments, packages, functions,
 * routes), every resource whose spec changed since this deployment last applied it, records what it applied
 * after each step, and with `delete` removes what the deployment created that specs/ no longer holds.
 * A resource that exists but was not created by this deployment is refused, never overwritten.
 */
export async function applySpecs(
  client: ApiClient,
  specs: LoadedSpecs,
  io: ApplyIo,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  if (specs.errors.length > 0) throw new WasmletError("INVALID_ARGUMENT", specs.errors.join("\n"));
  const record = (await client.getSpecDeployment(specs.deployment))?.resources ?? {};
  const managed: Record<string, string> = { ...record };
  const save = () => client.putSpecDeployment(specs.deployment, managed);
  const result: ApplyResult = { changed: 0, unchanged: 0, deleted: 0, failed: [] };
  const builds = new Map<string, number>();
  const ordered = [...specs.specs].sort((a, b) => SPEC_KINDS.indexOf(a.kind) - SPEC_KINDS.indexOf(b.kind));

  const ensureBuilt = async (pkg: string, why: string): Promise<boolean> => {
    const gen = builds.get(pkg);
    if (gen === undefined) return true;
    io.log(`waiting for package ${pkg} (${why})`);
    const p = await io.waitForBuild(pkg, gen);
    builds.delete(pkg);
    if (p.status === "failed") result.failed.push(p);
    return p.status === "succeeded";
  };

  /** A trigger on a function its package has not built yet waits for the build (and the function). */
  const needFunction = async (s: LoadedSpec, fnName: string): Promise<void> => {
    const fn = specs.specs.find((x) => x.kind === "Function" && x.metadata.name === fnName);
    if (fn?.kind !== "Function" || !fn.spec.package || (await exists(client, "Function", fnName))) return;
    const ok = await ensureBuilt(fn.spec.package, `${s.kind} ${s.metadata.name} needs function ${fnName}`);
    if (!ok)
      throw new WasmletError(
        "BUILD_FAILED",
        `${s.file}: ${s.kind} "${s.metadata.name}": spec.function: function "${fnName}" cannot be created: package ${fn.spec.package} failed to build`,
      );
    await waitExists(client, fnName);
  };

  for (const s of ordered) {
    const p = await prepare(specs, s);
    const { name } = s.metadata;
    const present = await exists(client, s.kind, name);
    if (present && managed[p.key] === p.hash) {
      result.unchanged++;
      continue;
    }
    if (present && managed[p.key] === undefined)
      throw new WasmletError(
        "CONFLICT",
        `${s.file}: ${s.kind} "${name}" already exists and was not created by specs of deployment "${specs.deployment}"; delete it or rename it`,
      );
    let verb = present ? "updated" : "created";
    switch (s.kind) {
      case "Environment": {
        const body = { builder: s.spec.builder, buildCommand: s.spec.buildCommand ?? "" };
        if (present) await client.updateEnvironment(name, body);
        else await client.createEnvironment({ name, ...body, buildCommand: s.spec.buildCommand });
        break;
      }
      case "Package": {
        const archive = p.archive as { bytes: Uint8Array; fileName: string };
        const src = { archive: Buffer.from(archive.bytes).toString("base64"), fileName: archive.fileName };
        const from =
          s.spec.environment !== undefined
            ? { environment: s.spec.environment }
            : { builder: s.spec.builder };
        const pkg = present
          ? await client.updatePackage(name, { ...src, ...from, buildCommand: s.spec.buildCommand ?? "" })
          : await client.createPackage({ name, ...src, ...from, buildCommand: s.spec.buildCommand });
        builds.set(name, pkg.generation);
        break;
      }
      case "Config": {
        if (present) await client.updateConfig(name, { data: s.spec.data, replace: true });
        else await client.createConfig({ name, data: s.spec.data });
        break;
      }
      case "Function": {
        // What it uses of secrets and configs: names only. Absent = none, as for the other settings.
        const values = {
          secrets: s.spec.secrets ?? [],
          configs: s.spec.configs ?? [],
          envFrom: envFromSpec(s.spec),
        };
        const settings = {
          // A component's contract follows from its world (the server chooses it); a module's default is command.
          contract:
            s.spec.contract ?? (p.module && isComponentBinary(p.module.bytes) ? undefined : DEFAULT_CONTRACT),
          args: s.spec.args ?? [],
          env: s.spec.env ?? {},
          allowOutbound: s.spec.allowOutbound ?? [],
          limits: s.spec.limits,
        };
        // Absent in the spec = none: applying a spec without it clears one set before.
        const outputFile = s.spec.outputFile ?? null;
        if (s.spec.package !== undefined) {
          if (present) await client.updateFunction(name, { ...settings, ...values, outputFile });
          const bound = await client.bindFunction(s.spec.package, { name, ...settings });
          if (bound.pending) verb = `bound to package ${s.spec.package} (created when its build succeeds)`;
          // A draft carries no outputFile: a function the bind just made gets it now.
          else if (!present && s.spec.outputFile !== undefined)
            await client.updateFunction(name, { outputFile });
          // Nor secrets and configs: a function a build will make waits for it to get them.
          if (!present && usesAny(values)) {
            await needFunction(s, name);
            await client.updateFunction(name, values);
          }
        } else {
          const source = p.module
            ? { code: Buffer.from(p.module.bytes).toString("base64"), fileName: p.module.fileName }
            : { image: s.spec.image };
          if (present) await client.updateFunction(name, { ...settings, ...values, outputFile, ...source });
          else await client.createFunction({ name, ...settings, ...values, outputFile, ...source });
        }
        break;
      }
      case "HTTPTrigger": {
        await needFunction(s, s.spec.function);
        if (present) await client.deleteHttpTrigger(name);
        await client.createHttpTrigger({ name, ...s.spec });
        break;
      }
      case "TimeTrigger": {
        await needFunction(s, s.spec.function);
        if (present) await client.updateTimeTrigger(name, { ...s.spec, body: s.spec.body ?? "" });
        else await client.createTimeTrigger({ name, ...s.spec });
        break;
      }
      case "MessageQueueTrigger": {
        await needFunction(s, s.spec.function);
        const { mqtype, ...rest } = s.spec;
        if (present)
          await client.updateMqTrigger(name, {
            ...rest,
            respTopic: rest.respTopic ?? "",
            errorTopic: rest.errorTopic ?? "",
          });
        else await client.createMqTrigger({ name, ...rest, mqtype: mqtype as "nats" | undefined });
        break;
      }
    }
    managed[p.key] = p.hash;
    await save();
    result.changed++;
    io.log(`${s.kind} ${name} ${verb}`);
  }

  if (opts.delete) {
    const wanted = new Set(specs.specs.map((s) => keyOf(s.kind, s.metadata.name)));
    const gone = Object.keys(managed)
      .filter((k) => !wanted.has(k))
      .sort(
        (a, b) =>
          SPEC_KINDS.indexOf(b.split("/")[0] as SpecKind) - SPEC_KINDS.indexOf(a.split("/")[0] as SpecKind),
      );
    for (const key of gone) {
      const [kind, name] = key.split("/") as [SpecKind, string];
      await remove(client, kind, name);
      delete managed[key];
      await save();
      result.deleted++;
      io.log(`${kind} ${name} deleted`);
    }
  }

  if (opts.wait) for (const pkg of [...builds.keys()]) await ensureBuilt(pkg, "--wait");
  if (result.changed === 0 && result.deleted === 0)
    io.log(`nothing changed: ${result.unchanged} resource${result.unchanged === 1 ? "" : "s"} up to date`);
  return result;
}

/** A Function spec's `envFromSecret` and `envFromConfig` in the API's form. */
function envFromSpec(spec: FunctionSpec): Record<string, ValueRef> {
  const out: Record<string, ValueRef> = {};
  for (const kind of ["secret", "config"] as const)
    for (const [variable, ref] of Object.entries(
      (kind === "secret" ? spec.envFromSecret : spec.envFromConfig) ?? {},
    ))
      out[variable] = parseValueRef(kind, ref) as ValueRef;
  return out;
}

function usesAny(v: { secrets: string[]; configs: string[]; envFrom: Record<string, ValueRef> }): boolean {
  return v.secrets.length > 0 || v.configs.length > 0 || Object.keys(v.envFrom).length > 0;
}

async function waitExists(client: ApiClient, fn: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await exists(client, "Function", fn))) {
    if (Date.now() > deadline)
      throw new WasmletError("UNAVAILABLE", `function "${fn}" was not created in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Deletes every resource the deployment created (routes first), then its record. */
export async function destroySpecs(
  client: ApiClient,
  deployment: string,
  log: (l: string) => void,
): Promise<number> {
  const record = (await client.getSpecDeployment(deployment))?.resources ?? {};
  const keys = Object.keys(record).sort(
    (a, b) =>
      SPEC_KINDS.indexOf(b.split("/")[0] as SpecKind) - SPEC_KINDS.indexOf(a.split("/")[0] as SpecKind),
  );
  const left = { ...record };
  for (const key of keys) {
    const [kind, name] = key.split("/") as [SpecKind, string];
    await remove(client, kind, name);
    delete left[key];
    await client.putSpecDeployment(deployment, left);
    log(`${kind} ${name} deleted`);
  }
  await client.deleteSpecDeployment(deployment);
  return keys.length;
}

/** Where each spec stands: applied as is, changed since, or never applied; plus deployed resources no longer in specs. */
export async function specStates(
  client: ApiClient,
  specs: LoadedSpecs,
): Promise<{ kind: string; name: string; file: string; state: string }[]> {
  const record = (await client.getSpecDeployment(specs.deployment))?.resources ?? {};
  const rows = [];
  for (const s of specs.specs) {
    const p = await prepare(specs, s);
    const applied = record[p.key];
    const state = applied === undefined ? "not applied" : applied === p.hash ? "applied" : "changed";
    rows.push({ kind: s.kind, name: s.metadata.name, file: s.file, state });
  }
  const wanted = new Set(specs.specs.map((s) => keyOf(s.kind, s.metadata.name)));
  for (const key of Object.keys(record))
    if (!wanted.has(key)) {
      const [kind, name] = key.split("/");
      rows.push({ kind, name, file: "-", state: "removed from specs (apply --delete removes it)" });
    }
  return rows;
}

export type { Digest };
