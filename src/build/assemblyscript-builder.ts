import { BUILDER_SOURCES } from "../core/index.js";
import { access, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { BaseBuilder, type BuildPlan, buildFailed, type SourceTree } from "./base-builder.js";
import type { BuilderOptions, DetectResult } from "./types.js";
import { pathArg } from "./workspace.js";

export const ASSEMBLYSCRIPT_INSTALL =
  "npm install assemblyscript @assemblyscript/wasi-shim (in wasmlet's directory)";

/** The config this builder writes next to the sources; it extends the WASI shim of wasmlet's own install. */
const GENERATED_CONFIG = "asconfig.wasmlet.json";

/**
 * Defaults for a one-shot WASI command. "incremental" (a real GC) rather than "stub" (never frees), so that
 * a function that allocates per request stays under its memory cap.
 */
const DEFAULT_OPTIONS = { optimizeLevel: 3, shrinkLevel: 1, noAssert: true, runtime: "incremental" };

export interface AssemblyScriptBuilderOptions extends BuilderOptions {
  /** The asconfig.json of @assemblyscript/wasi-shim; default the one in wasmlet's node_modules. */
  shimConfig?: string;
}

function resolveOrMissing(resolve: () => string, what: string): string {
  try {
    return resolve();
  } catch {
    return `/nonexistent/${what}`;
  }
}

/**
 * Compiles AssemblyScript with the `asc` of wasmlet's own node_modules, in a child node process (so the time
 * limit can kill it), always through @assemblyscript/wasi-shim so that the module is a WASI command.
 * Entry: index.ts, assembly/index.ts, or the single .ts file. A user asconfig.json contributes its `options`
 * (its `extends` would point at paths of the user's machine, so the shim is always the base).
 */
export class AssemblyScriptBuilder extends BaseBuilder {
  readonly name = "assemblyscript";
  readonly extensions = BUILDER_SOURCES.assemblyscript;
  protected readonly label = "AssemblyScript";
  protected readonly installCommand = ASSEMBLYSCRIPT_INSTALL;
  private readonly shimConfig: string;

  constructor(options: AssemblyScriptBuilderOptions = {}) {
    super(
      resolveOrMissing(
        () => join(dirname(fileURLToPath(import.meta.resolve("assemblyscript"))), "..", "bin", "asc.js"),
        "assemblyscript/bin/asc.js",
      ),
      options,
    );
    this.shimConfig =
      options.shimConfig ??
      resolveOrMissing(
        () => createRequire(import.meta.url).resolve("@assemblyscript/wasi-shim/asconfig.json"),
        "@assemblyscript/wasi-shim/asconfig.json",
      );
  }

  async detect(): Promise<DetectResult> {
    for (const [path, pkg] of [
      [this.compiler, "assemblyscript"],
      [this.shimConfig, "@assemblyscript/wasi-shim"],
    ] as const) {
      const present = await access(path)
        .then(() => true)
        .catch(() => false);
      if (!present) return { ok: false, missing: `${pkg} (${path})`, install: ASSEMBLYSCRIPT_INSTALL };
    }
    const pkgJson = join(dirname(this.compiler), "..", "package.json");
    const version = await readFile(pkgJson, "utf8")
      .then((t) => String(JSON.parse(t).version))
      .catch(() => "unknown");
    return { ok: true, version: `assemblyscript ${version}` };
  }

  protected findEntry(tree: SourceTree): string | undefined {
    const sources = tree.paths.filter((p) => p.endsWith(".ts") && !p.endsWith(".d.ts"));
    return (
      ["index.ts", "assembly/index.ts"].find((p) => tree.files.has(p)) ??
      (sources.length === 1 ? sources[0] : undefined)
    );
  }

  protected plan(tree: SourceTree): BuildPlan {
    const entry = this.findEntry(tree);
    if (!entry)
      throw buildFailed(
        tree.paths.some((p) => p.endsWith(".ts"))
          ? "cannot choose the AssemblyScript entry among several .ts files: name it index.ts or assembly/index.ts"
          : "the source tree has no .ts file for the AssemblyScript builder",
      );
    const userConfig = tree.files.get("asconfig.json");
    return {
      entry,
      prepare: (dir) => writeFile(join(dir, GENERATED_CONFIG), this.generatedConfig(dir, userConfig)),
      commands: [
        {
          file: process.execPath,
          args: [
            this.compiler,
            pathArg(entry),
            "--config",
            GENERATED_CONFIG,
            "--outFile",
            "out.wasm",
            "--noColors",
          ],
        },
      ],
      output: async () => "out.wasm",
    };
  }

  private generatedConfig(dir: string, userConfig: Uint8Array | undefined): string {
    let userOptions: Record<string, unknown> = {};
    if (userConfig) {
      try {
        const parsed = JSON.parse(Buffer.from(userConfig).toString("utf8"));
        if (parsed && typeof parsed.options === "object") userOptions = parsed.options;
      } catch (e) {
        throw buildFailed(`asconfig.json is not valid JSON: ${(e as Error).message}`, e);
      }
    }
    // the shim's exportStart makes `_start` the entry; a user option must not turn the module into a reactor
    const { exportStart: _ignored, ...kept } = userOptions;
    return JSON.stringify({ extends: this.shimFrom(dir), options: { ...DEFAULT_OPTIONS, ...kept } }, null, 2);
  }

  protected toolEnv(dir: string): Record<string, string> {
    return { ASC: `${process.execPath} ${this.compiler}`, ASC_WASI_SHIM_CONFIG: this.shimFrom(dir) };
  }

  /**
   * The shim's config relative to the build dir: asc joins its `lib` path onto the base dir, which turns an
   * absolute path into a wrong relative one, so a relative path is the only form that works.
   */
  private shimFrom(dir: string): string {
    return relative(dir, this.shimConfig);
  }
}
