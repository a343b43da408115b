import { createRequire } from "node:module";
import type { Digest } from "../core/index.js";
import type { LayerHasher } from "../registry/index.js";

/**
 * glibc raises its mmap threshold (up to 32 MiB) each time a mapped block is freed, after which buffers of up
 * to 32 MiB (function outputs, request bodies, V8 backing stores) come from its arenas and stay with the
 * process when freed: 16 slow readers of a 60 MiB response left the server at 534 MiB for good (80 MiB before).
 * With the threshold fixed at 128 KiB every large buffer is its own mapping, returned when freed (the same run
 * went back to ~107 MiB). glibc reads MALLOC_MMAP_THRESHOLD_ only at start, so the native addon sets it.
 */
const MMAP_THRESHOLD = 128 * 1024;

/**
 * Freed memory at the top of a heap that the serve process keeps rather than returns. Fixing the mmap threshold
 * also fixes glibc's trim threshold at its 128 KiB default (it rises with the dynamic mmap threshold), so memory
 * churned below 128 KiB at a time — node's buffers of an upload's body, 64 KiB per read, freed by the next
 * scavenge — went back to the OS and was faulted in again, page by page, for the next ones. `BENCH=large`, 3 runs
 * each interleaved with 128 KiB: create → first answer of the 30 MB module 150-194 ms (median 174) against
 * 167-198 (185), server CPU per create 190-240 ms against 210-250, a small function's p99 beside two large creates
 * 8.4-9.7 ms against 10.4-14.4; RSS of the idle server 180-189 MiB against 173-179, after deleting the 3
 * functions 4-20 MiB over before against -3-+3. Buffers of 128 KiB or more are still their own mappings,
 * returned when freed.
 */
const SERVE_TRIM_THRESHOLD = 32 * 1024 * 1024;

/** The optional native addon (native/malloc-tune.c, built by npm install). */
export interface NativeAddon {
  /** Fixes glibc's mmap threshold and, when given (and the addon is recent enough), its trim threshold. */
  tune(bytes: number, trimBytes?: number): boolean;
  /** Sets the calling thread's scheduler slice; returns the slice the kernel reports after (0: not set). */
  setSlice(ns: number): number;
  /** The calling thread's CPU time in ms (CLOCK_THREAD_CPUTIME_ID); absent in an addon built before it. */
  threadCpuMs?: () => number;
  /** execv(path, argv): replaces the process in place; returns the errno only when that failed. */
  execSelf?: (path: string, argv: string[]) => number;
  /** sha256 on libuv's thread pool (native/sha256-async.c); absent in an addon built before it. */
  sha256New?: () => object;
  sha256Update?: (hash: object, bytes: Uint8Array) => void;
  sha256Digest?: (hash: object) => Promise<string>;
  /**
   * Faults in the whole pages of `bytes` (a view of a SharedArrayBuffer) on libuv's pool (native/populate.c,
   * MADV_POPULATE_WRITE), leaving what they hold as it is; resolves false when the kernel refused. Absent in an
   * addon built before it.
   */
  populate?: (bytes: Uint8Array) => Promise<boolean>;
}

let addon: NativeAddon | null | undefined;

/** The addon, or null when it is not built. */
export function load(): NativeAddon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)("../../../build/Release/malloc_tune.node") as NativeAddon;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/**
 * Fixes the mmap threshold, and for the serve process (`serving`) the trim threshold (SERVE_TRIM_THRESHOLD); false
 * when the addon is not built (or not glibc). Call once, at start.
 */
export function tuneMalloc(serving = false): boolean {
  return load()?.tune(MMAP_THRESHOLD, serving ? SERVE_TRIM_THRESHOLD : undefined) ?? false;
}

/** The addon's sha256 on libuv's thread pool as the registry's LayerHasher; undefined without it. */
export function nativeLayerHasher(): (() => LayerHasher) | undefined {
  const a = load();
  const { sha256New, sha256Update, sha256Digest } = a ?? {};
  if (!sha256New || !sha256Update || !sha256Digest) return undefined;
  return () => {
    const hash = sha256New();
    return {
      update: (bytes) => sha256Update(hash, bytes),
      digest: async () => `sha256:${await sha256Digest(hash)}` as Digest,
    };
  };
}
