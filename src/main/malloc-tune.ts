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

/** The optional native addon (native/malloc-tune.c, built by npm install). */
export interface NativeAddon {
  tune(bytes: number): boolean;
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

/** Fixes the mmap threshold; false when the addon is not built (or not glibc). Call once, at start. */
export function tuneMalloc(): boolean {
  return load()?.tune(MMAP_THRESHOLD) ?? false;
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
