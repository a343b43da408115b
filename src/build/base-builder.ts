import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { WasmletError } from "../core/index.js";
import { checkStartExport } from "./module-check.js";
import { type ProcessResult, runProcess } from "./run-process.js";
import {
  BUILD_OUTPUT_FILE,
  type Builder,
  type BuilderName,
  type BuilderOptions,
  type BuildInput,
  type BuildOutput,
  DEFAULT_BUILD_TIMEOUT_MS,
  type DetectResult,
} from "./types.js";
import { checkSourcePath, createWorkspace, moduleFileName } from "./workspace.js";

/** What a failed build's error message keeps of the compiler's output. */
export const MAX_ERROR_OUTPUT = 8 * 1024;

const PROBE_TIMEOUT_MS = 30_000;

/** One process of a build. */
export interface BuildCommand {
  file: string;
  args: string[];
  env?: Record<string, string>;
}

/** How a builder compiles one source tree. */
export interface BuildPlan {
  /** The source file the module is named after, if the builder found one. */
  entry?: string;
  commands: BuildCommand[];
  /** Writes generated files (configs) into the build dir before the commands run. */
  prepare?(dir: string): Promise<void>;
  /** Finds the produced module, relative to the build dir; called after the commands succeeded. */
  output(dir: string): Promise<string>;
}

/** A source tree with normalised paths (sorted), handed to `plan`. */
export interface SourceTree {
  paths: readonly string[];
  files: ReadonlyMap<string, Uint8Array>;
}

export function buildFailed(message: string, cause?: unknown): WasmletError {
  return new WasmletError("BUILD_FAILED", message, { cause });
}

/** The last MAX_ERROR_OUTPUT bytes of a compiler's output, without colour escapes. */
export function errorTail(output: string): string {
  const plain = output.replace(/\u001b\[[0-9;]*m/g, "").trim();
  const bytes = Buffer.from(plain, "utf8");
  return bytes.length <= MAX_ERROR_OUTPUT ? plain : bytes.subarray(-MAX_ERROR_OUTPUT).toString("utf8");
}

/**
 * The build flow every toolchain shares: validate paths, check the toolchain, lay the tree out in a temp
 * dir, run the plan (or the user's build command) under one deadline, and check the module it left.
 */
export abstract class BaseBuilder implements Builder {
  abstract readonly name: BuilderName;
  abstract readonly extensions: readonly string[];
  /** Human name of the language, for messages ("C"). */
  protected abstract readonly label: string;
  protected readonly compiler: string;
  private toolchain?: Promise<DetectResult>;

  constructor(
    defaultCompiler: string,
    protected readonly options: BuilderOptions = {},
  ) {
    this.compiler = options.compiler ?? defaultCompiler;
  }

  abstract detect(): Promise<DetectResult>;

  /** Picks entry files and compiler invocations; throws BUILD_FAILED when the tree has nothing to build. */
  protected abstract plan(tree: SourceTree): BuildPlan;

  /** Picks the entry only (for naming the module of a user build command); undefined when none fits. */
  protected abstract findEntry(tree: SourceTree): string | undefined;

  /** Environment a user's build command gets to reach this toolchain (CC, RUSTC, ASC...). */
  protected abstract toolEnv(dir: string): Record<string, string>;

  async build(input: BuildInput): Promise<BuildOutput> {
    const started = performance.now();
    const timeoutMs = input.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    if (input.signal?.aborted) throw buildFailed("the build was cancelled before it started");
    const files = new Map<string, Uint8Array>();
    for (const [p, bytes] of input.files) files.set(checkSourcePath(p), bytes);
    const tree: SourceTree = { paths: [...files.keys()].sort(), files };
    if (tree.paths.length === 0)
      throw new WasmletError("INVALID_ARGUMENT", "files: the source tree is empty");

    await this.ensureToolchain();
    const plan: BuildPlan = input.buildCommand
      ? {
          entry: this.findEntry(tree),
          commands: [{ file: "sh", args: ["-c", input.buildCommand] }],
          output: async () => BUILD_OUTPUT_FILE,
        }
      : this.plan(tree);

    const ws = await createWorkspace(files, this.options.tmpDir ?? tmpdir());
    try {
      const baseEnv: Record<string, string> = {
        PATH: this.searchPath(),
        HOME: ws.dir,
        LANG: "C.UTF-8",
        BUILD_DIR: ws.dir,
        BUILD_OUTPUT: join(ws.dir, BUILD_OUTPUT_FILE),
        ...this.toolEnv(ws.dir),
      };
      await plan.prepare?.(ws.dir);
      let log = "";
      for (const cmd of plan.commands) {
        log += `$ ${[cmd.file, ...cmd.args].join(" ")}\n`;
        const r = await runProcess(cmd.file, cmd.args, {
          cwd: ws.dir,
          env: { ...baseEnv, ...cmd.env },
          deadline,
          signal: input.signal,
        });
        log += r.output;
        if (r.timedOut)
          throw buildFailed(
            `the build exceeded its time limit of ${timeoutMs} ms and was killed${r.output ? `\n${errorTail(r.output)}` : ""}`,
          );
        if (r.aborted) throw buildFailed("the build was cancelled");
        if (r.spawnError) throw this.spawnFailure(cmd.file, r.spawnError);
        if (r.code !== 0) {
          const tail = errorTail(r.output);
          throw buildFailed(
            tail || `${cmd.file} failed with exit status ${r.code ?? "(killed by a signal)"}`,
          );
        }
      }
      const outPath = await plan.output(ws.dir);
      let module: Uint8Array;
      try {
        module = new Uint8Array(await readFile(join(ws.dir, outPath)));
      } catch (e) {
        throw buildFailed(
          input.buildCommand
            ? `the build command finished but left no module at ${BUILD_OUTPUT_FILE} (the path in $BUILD_OUTPUT)`
            : `the compiler finished but left no module at ${outPath}`,
          e,
        );
      }
      await checkStartExport(module);
      return {
        module,
        log,
        fileName: moduleFileName(plan.entry),
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      await ws.dispose();
    }
  }

  /** The message for a toolchain that detect() says is absent, naming the exact install command. */
  protected missingToolchain(missing: string, install: string): WasmletError {
    return buildFailed(
      `the ${this.label} builder needs ${missing}, which is missing here; install it with: ${install}`,
    );
  }

  private spawnFailure(file: string, e: NodeJS.ErrnoException): WasmletError {
    if (e.code === "ENOENT" || e.code === "EACCES") {
      // a toolchain removed since detect(): forget the cached result and say how to get it back
      this.toolchain = undefined;
      return this.missingToolchain(file, this.installCommand);
    }
    return buildFailed(`cannot start ${file}: ${e.message}`, e);
  }

  /** Runs a short toolchain probe for detect(), in `cwd` (default a fresh scratch dir), bounded to 30 s. */
  protected async probe(file: string, args: readonly string[], cwd?: string): Promise<ProcessResult> {
    const dir = cwd ?? (await mkdtemp(join(this.options.tmpDir ?? tmpdir(), "wasmlet-probe-")));
    try {
      return await runProcess(file, args, {
        cwd: dir,
        env: { PATH: this.searchPath(), HOME: dir, LANG: "C.UTF-8" },
        deadline: Date.now() + PROBE_TIMEOUT_MS,
      });
    } finally {
      if (cwd === undefined) await rm(dir, { recursive: true, force: true });
    }
  }

  /** A scratch dir for detect() probes that need files; removed after `fn`. */
  protected async withScratchDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(this.options.tmpDir ?? tmpdir(), "wasmlet-probe-"));
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private searchPath(): string {
    return this.options.searchPath ?? process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
  }

  /** The apt/npm command that installs this toolchain. */
  protected abstract readonly installCommand: string;

  /** Detects the toolchain once per builder; a failed detection is retried on the next build. */
  private async ensureToolchain(): Promise<void> {
    this.toolchain ??= this.detect();
    const result = await this.toolchain;
    if (!result.ok) {
      this.toolchain = undefined;
      throw this.missingToolchain(result.missing, result.install);
    }
  }
}
