import { BUILD_OUTPUT_FILE, BUILDERS, type Builder, BuildQueue } from "../build/index.js";
import { unpackArchive } from "../client/index.js";
import {
  type Digest,
  type FunctionRecord,
  type FunctionVersion,
  toWasmletError,
  WasmletError,
} from "../core/index.js";
import type { FunctionDraft, PackageRecord } from "../store/index.js";
import type { ApiDeps } from "./deps.js";
import type { KeyedLock } from "./keyed-lock.js";
import { announceDeploy, apiLog, newFunctionRecord, nextVersionNumber } from "./lifecycle.js";
import { fetchSource, packageRepository } from "./package-source.js";

/** Lock key of a package: a `:` never occurs in resource names, so it cannot clash with a function's. */
export const packageLock = (name: string): string => `pkg:${name}`;

/** The builders the API knows, by name; ApiDeps.builders overrides the defaults (tests). */
export function buildersOf(deps: ApiDeps): Readonly<Record<string, Builder>> {
  return deps.builders ?? BUILDERS;
}

/** The builder called `name`, or INVALID_ARGUMENT listing the known ones. */
export function checkBuilder(deps: ApiDeps, name: string, field = "builder"): string {
  const known = Object.keys(buildersOf(deps));
  if (!known.includes(name))
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `${field}: "${name}" is not a known builder (use one of ${known.join(", ")})`,
    );
  return name;
}

/**
 * Runs package builds in the background: fetch the source archive from the registry, compile it in the bounded
 * BuildQueue, push the module as `packages/<name>:build-<generation>`, then give every function bound to the
 * package the new version (and create the functions it was asked to). Every status change is written to the
 * store before the next step, so `pkg info` shows pending → running → succeeded | failed. A build whose package
 * got a newer generation meanwhile is dropped. On a restart, `recover()` requeues builds that were pending or
 * running (the source is in the registry, so nothing is lost); builds cut off by shutdown write nothing.
 */
export class PackageBuilds {
  readonly #queue: BuildQueue;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: ApiDeps,
    private readonly locks: KeyedLock,
  ) {
    this.#queue = deps.buildQueue ?? new BuildQueue();
  }

  /** Starts building the package's current generation; returns at once (status is in the store). */
  start(name: string, generation: number): void {
    const work = this.#build(name, generation).catch((e) => {
      if (!this.deps.signal?.aborted)
        apiLog(this.deps)(
          `wasmlet api: build of package "${name}" failed unexpectedly: ${e instanceof Error ? (e.stack ?? e.message) : e}`,
        );
    });
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /** Requeues every package left pending or running by a previous server process. */
  async recover(): Promise<void> {
    for (const p of await this.deps.store.list("package"))
      if (p.status === "pending" || p.status === "running") this.start(p.name, p.generation);
  }

  /** Resolves when no build is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Applies `change` to the package if it is still at `generation`; false when it moved on or went away. */
  async #write(
    name: string,
    generation: number,
    change: Partial<PackageRecord>,
  ): Promise<PackageRecord | undefined> {
    if (this.deps.signal?.aborted) return undefined;
    return this.locks.run(packageLock(name), async () => {
      const p = await this.deps.store.get("package", name);
      if (!p || p.generation !== generation) return undefined;
      const next: PackageRecord = { ...p, ...change, updatedAt: new Date().toISOString() };
      await this.deps.store.update("package", name, next);
      return next;
    });
  }

  async #build(name: string, generation: number): Promise<void> {
    const pkg = await this.deps.store.get("package", name);
    if (!pkg || pkg.generation !== generation) return;
    let digest: Digest;
    let image: string;
    let log: string;
    let startedAt = performance.now();
    const finished = (outcome: "succeeded" | "failed") =>
      this.deps.onBuild?.(pkg.builder, outcome, (performance.now() - startedAt) / 1000);
    try {
      const builder = buildersOf(this.deps)[pkg.builder];
      if (!builder)
        throw new WasmletError("BUILD_FAILED", `builder "${pkg.builder}" is not available on this server`);
      const files = await unpackArchive(await fetchSource(this.deps, name, pkg.source.digest));
      // The queue calls build() when a slot frees up: that is when the package starts running.
      const marking: Builder = {
        name: builder.name,
        extensions: builder.extensions,
        detect: () => builder.detect(),
        build: async (input) => {
          startedAt = performance.now();
          await this.#write(name, generation, { status: "running", buildLog: "" });
          return builder.build(input);
        },
      };
      const out = await this.#queue.run(marking, {
        files,
        buildCommand: pkg.buildCommand,
        signal: this.deps.signal,
      });
      this.deps.inspectModule(out.module);
      const entry = `/${out.fileName || BUILD_OUTPUT_FILE}`;
      const bundle = await this.deps.buildImage({ files: new Map([[entry, out.module]]), entry });
      image = `${packageRepository(this.deps, name)}:build-${generation}`;
      digest = await this.deps.registry.push(image, bundle);
      log = out.log;
    } catch (e) {
      if (this.deps.signal?.aborted) return;
      const err = toWasmletError(e, "BUILD_FAILED");
      const prefix = err.code === "BUILD_FAILED" ? "" : `${err.code}: `;
      finished("failed");
      await this.#write(name, generation, { status: "failed", buildLog: `${prefix}${err.message}` });
      return;
    }
    finished("succeeded");
    const done = await this.#write(name, generation, { status: "succeeded", buildLog: log, image, digest });
    if (!done) return;
    await this.deployAll(done, done.pendingFunctions ?? []);
    if (done.pendingFunctions) await this.#write(name, generation, { pendingFunctions: undefined });
  }

  /** Gives every function bound to `pkg` its image and creates `drafts`; calls onDeploy for each change. */
  async deployAll(pkg: PackageRecord, drafts: FunctionDraft[]): Promise<void> {
    const bound = (await this.deps.store.list("function")).filter((f) => f.package === pkg.name);
    for (const f of bound) await this.deployTo(pkg, { name: f.name });
    for (const d of drafts)
      await this.deployTo(pkg, d, false).catch((e) =>
        apiLog(this.deps)(
          `wasmlet api: function "${d.name}" of package "${pkg.name}": ${toWasmletError(e).message}`,
        ),
      );
  }

  /**
   * Binds function `draft.name` to a built package: creates it (with the draft's settings) or, when it exists,
   * makes the package's image its new current version unless it already runs that digest. With `adopt` false,
   * an existing function bound to another package (or none) is left alone (ALREADY_EXISTS).
   */
  async deployTo(pkg: PackageRecord, draft: FunctionDraft, adopt = true): Promise<FunctionRecord> {
    if (pkg.status !== "succeeded" || !pkg.digest || !pkg.image)
      throw new WasmletError("CONFLICT", `package "${pkg.name}" has no successful build yet`);
    const { image, digest } = pkg;
    const { fn, changed } = await this.locks.run(draft.name, async () => {
      const { store } = this.deps;
      const old = await store.get("function", draft.name);
      const now = new Date().toISOString();
      if (!old) {
        const v: FunctionVersion = { version: 1, image, digest, createdAt: now };
        const fn = newFunctionRecord(draft.name, draft, v, { package: pkg.name });
        await store.create("function", fn.name, fn);
        return { fn, changed: true };
      }
      if (!adopt && old.package !== pkg.name)
        throw new WasmletError("ALREADY_EXISTS", `function "${draft.name}" already exists`);
      if (old.current.digest === digest && old.package === pkg.name) return { fn: old, changed: false };
      const fn: FunctionRecord = { ...old, package: pkg.name, updatedAt: now };
      if (old.current.digest !== digest) {
        const v: FunctionVersion = {
          version: nextVersionNumber(old),
          image,
          digest,
          createdAt: now,
        };
        fn.current = v;
        fn.versions = [...old.versions, v];
      }
      await store.update("function", fn.name, fn);
      return { fn, changed: old.current.digest !== digest };
    });
    if (changed) await announceDeploy(this.deps, fn);
    return fn;
  }
}
