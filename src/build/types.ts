import type { BuilderName } from "../core/index.js";

export { BUILDER_NAMES, type BuilderName } from "../core/index.js";

/** Where a user's build command must leave the module, relative to the build directory. */
export const BUILD_OUTPUT_FILE = "out.wasm";

export const DEFAULT_BUILD_TIMEOUT_MS = 120_000;

export interface BuildInput {
  /**
   * Source tree: relative POSIX path -> bytes. A single file is a one-entry map ("hello.c").
   * Paths that are absolute or contain a `..` segment are rejected with INVALID_ARGUMENT.
   */
  files: ReadonlyMap<string, Uint8Array>;
  /**
   * Optional command run with `sh -c` in the build directory instead of the builder's default (Fission's
   * --buildcmd), e.g. "make". It must leave the module at `out.wasm` in the build directory; the absolute path
   * of that file is in the BUILD_OUTPUT environment variable, and the build directory in BUILD_DIR.
   */
  buildCommand?: string;
  /** Hard time limit in ms; default 120 s. Past it the build's whole process group is killed. */
  timeoutMs?: number;
  /** Aborting it kills the build's process group; the build then fails with BUILD_FAILED. */
  signal?: AbortSignal;
}

export interface BuildOutput {
  /** A WASI preview1 command module: it validates and exports `_start`. */
  module: Uint8Array;
  /** The commands run and what they printed (stdout and stderr interleaved, bounded to its last part). */
  log: string;
  /** Name for the module in its image, derived from the entry source, e.g. "hello.wasm". */
  fileName: string;
  durationMs: number;
}

export type DetectResult = { ok: true; version: string } | { ok: false; missing: string; install: string };

/** A toolchain that turns a source tree into a WASI command module. */
export interface Builder {
  readonly name: BuilderName;
  /** File extensions this builder claims (".c", ".rs", ".ts"); used by builderForFile. */
  readonly extensions: readonly string[];
  /**
   * Called before a build (and by CLI/API to report what the machine can build). Checks that the toolchain
   * can produce wasm32-wasi modules; never rejects: a missing part resolves `ok: false` with what is
   * missing and the exact command that installs it.
   */
  detect(): Promise<DetectResult>;
  /**
   * Called once per package build. Compiles in a fresh temp dir, which is removed afterwards whatever
   * happens. Throws WasmletError BUILD_FAILED whose message is the compiler's own output (its last 8 KB),
   * the time limit that was hit, or, with a missing toolchain, the exact install command; INVALID_ARGUMENT
   * for an unsafe path in `files`.
   */
  build(input: BuildInput): Promise<BuildOutput>;
}

/** Options every builder accepts; tests inject a bogus compiler path to simulate a missing toolchain. */
export interface BuilderOptions {
  /** The compiler: clang or rustc executable, or the path of assemblyscript's bin/asc.js. */
  compiler?: string;
  /** Directory for temp build dirs; default os.tmpdir(). */
  tmpDir?: string;
  /** PATH given to compilers and build commands; default the server's own PATH, read at build time. */
  searchPath?: string;
}
