/**
 * Our own WASI preview1 host, because it runs on every request (hot path). node:wasi segfaults under many
 * instances and does stdio only through real fds; @bjorn3/browser_wasi_shim counts args_sizes_get in UTF-16
 * units and allocates per instance. This one keeps all state in memory, resets it in begin() without
 * reallocating, builds its import object once, and allocates nothing per call beyond typed-array views.
 */
import { WasmletError } from "../../core/index.js";
import type { WasiInputs, WasiOutputs } from "../types.js";
import { type HostControl, WasiContext } from "./context.js";
import type { FsImage } from "./fs-image.js";
import { createImports, type WasiImports } from "./imports.js";

export interface WasiHostOptions {
  /** The image filesystem mounted at "/" (fd 3); an empty one (just "/" and "/tmp") when absent. */
  fs?: FsImage;
  /** Most bytes an invocation may write to files; past it writes fail with ENOSPC. Default 16 MiB. */
  overlayCapBytes?: number;
  /** Most bytes of stdout; a write past it fails whole with EFBIG (never truncated). Default 64 MiB. */
  stdoutCapBytes?: number;
  /** Most bytes of stderr kept; past it the oldest bytes are dropped (the tail is kept). Default 1 MiB. */
  stderrCapBytes?: number;
  /** Longest single sleep in poll_oneoff; a longer one returns early. Default 10 s. */
  maxSleepMs?: number;
  /** Where sleeps and costly calls are policed (the runner); default: sleeps block, no checkpoints. */
  control?: HostControl;
}

const MiB = 1024 * 1024;

function cap(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new WasmletError("INVALID_ARGUMENT", `${field}: must be a non-negative integer, got ${value}`);
  return value;
}

/** One WASI preview1 host for one instance at a time, reused across invocations. */
export class WasiHost {
  /** The import object for `wasi_snapshot_preview1`: created once, the same object across begin()s. */
  readonly imports: WasiImports;
  private readonly ctx: WasiContext;

  constructor(options: WasiHostOptions = {}) {
    this.ctx = new WasiContext(
      options.fs,
      {
        overlayCapBytes: cap(options.overlayCapBytes, 16 * MiB, "overlayCapBytes"),
        stdoutCapBytes: cap(options.stdoutCapBytes, 64 * MiB, "stdoutCapBytes"),
        stderrCapBytes: cap(options.stderrCapBytes, MiB, "stderrCapBytes"),
        maxSleepMs: cap(options.maxSleepMs, 10_000, "maxSleepMs"),
      },
      options.control,
    );
    this.imports = createImports(this.ctx);
  }

  /**
   * Gives the host the instance's exported memory. Called once after instantiation, and again after a
   * re-instantiation; views are re-derived lazily, also after memory.grow().
   */
  setMemory(memory: WebAssembly.Memory): void {
    // Duck-typed: a Memory created in another realm (vm context) fails instanceof but works the same.
    if (typeof (memory as Partial<WebAssembly.Memory> | undefined)?.grow !== "function")
      throw new WasmletError("INVALID_MODULE", 'wasi: the module does not export a memory named "memory"');
    this.ctx.setMemory(memory);
  }

  /**
   * Starts one invocation: fd table (0-2 stdio, 3 = "/"), overlay, cursors and stdout/stderr all back to
   * fresh. Cheap: argv/environ are re-encoded only when a different array object is passed (treat the
   * arrays as immutable once handed over). Throws INVALID_ARGUMENT when an arg or env entry contains NUL.
   * `stdoutCapBytes` replaces the host's stdout cap for this invocation (a function's output limit).
   */
  begin(inputs: WasiInputs, stdoutCapBytes?: number): void {
    this.ctx.begin(inputs, stdoutCapBytes);
  }

  /**
   * Ends the invocation and hands over what it wrote (the arrays are the caller's; a later invocation
   * never overwrites them). `exitCode` is what the caller observed: 0, or WasiExit.code.
   */
  end(exitCode: number): WasiOutputs {
    return this.ctx.end(exitCode);
  }

  /** The host's own stdout cap (a run may set another in begin()). */
  get stdoutCapBytes(): number {
    return this.ctx.limits.stdoutCapBytes;
  }

  /** True when the invocation since begin() had a stdout write refused for passing stdoutCapBytes. */
  get stdoutOverflowed(): boolean {
    return this.ctx.stdoutOverflowed;
  }
}
