import { setFlagsFromString } from "node:v8";
import { type Digest, type LoadedImage, WasmletError } from "../core/index.js";
import { instrumentModule, isComponent } from "../wasm/index.js";
import { ComponentRunner, prepareComponent } from "./component/index.js";
import { WorkerPool } from "./pool.js";
import type { LoadSpec } from "./pool-worker.js";
import { ModuleRunner } from "./runner.js";
import type { CancelToken, Executor, RunLimits, RunResult, WasiInputs } from "./types.js";
import { FsImage, type FsImageExtras } from "./wasi/index.js";

// Compile every function of a module when it is prepared (at deploy), not at its first call: V8's lazy
// compilation moved that cost onto first requests — measured here, a new function's first request 1.5 ms
// instead of 0.7 ms, and p99 127 ms instead of 26 ms when 600 functions are first hit in rotation.
// The flag is process-wide and read at compile time, so it is set before anything is compiled.
setFlagsFromString("--no-wasm-lazy-compilation");
// V8's dynamic tiering stays on (Liftoff first, TurboFan for the functions that turn hot, on V8's background
// threads). Measured with --no-wasm-dynamic-tiering (every function through TurboFan at compile time): deploying
// 10,000 functions took 154 s instead of 82-96 s, and the first request of an evicted function 75 ms instead of
// 22-33 ms (medians). What it saves is the first ~10 s after 1,000 modules turn hot at once (their tier-up then
// takes ~5 s of background CPU): after that, rotation over them ran at 12.5-13.5k req/s, p99 6-7 ms, against
// 14.2k req/s, p99 5.8 ms with everything compiled by TurboFan (bench density, separate runs).

const SYNC_COMPILE_MAX_BYTES = 1024 * 1024;
/**
 * Components up to this size run on the request thread too (fuel checks in their core modules stop them at the
 * budget), larger ones on workers only: a run that fails is followed by a new instance, whose cost grows with jco's
 * glue — measured here, 2.6 ms for the 8 KB wasi:http hello from C, 50–150 ms for the 13 MB componentize-js one,
 * which would stall every other function on the thread.
 */
const MAIN_THREAD_COMPONENT_MAX_BYTES = 1024 * 1024;

export interface HybridExecutorOptions {
  /** Longest a run may hold the main thread; past it, the function is moved to workers. Default 20 ms. */
  mainBudgetMs?: number;
  /** How long a demoted function stays on workers before the main thread is tried again. Default 60 s. */
  demoteForMs?: number;
  /** Prepared modules kept (LRU); each holds a compiled module and one warm instance. Default 1024. */
  maxPrepared?: number;
  /** Demoted runs computing at once on worker threads. Default 4. */
  maxWorkers?: number;
  /** Worker threads alive at once, those whose guest sleeps included. Default 64. */
  maxThreads?: number;
  /** Demoted runs waiting for a worker; past it, OVERLOADED. Default 1024. */
  maxQueue?: number;
}

interface Entry {
  key: string;
  /** The main thread's instance; absent for a large component, which always runs on a worker. */
  runner?: ModuleRunner | ComponentRunner;
  load: LoadSpec;
  /** performance.now() until which runs go to workers. */
  demotedUntil: number;
  /** performance.now() of the last run: the least recently used entry is evicted first. */
  lastUsed: number;
}

/**
 * The default execution strategy. Runs happen on the main thread, on an instance reset to its
 * post-instantiation state (µs), with deadline checks injected into the module (loop heads and function
 * entries), so there is no thread hop on the fast path. A run that exceeds the short main-thread budget is
 * stopped there, discarded (its effects are invisible: everything is in memory) and re-run on a worker
 * thread with the rest of its time; the function then stays on workers for a while, so a runaway or a slow
 * function never stalls the main thread more than once per demotion period.
 */
export class HybridExecutor implements Executor {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private readonly pool: WorkerPool;
  private readonly mainBudgetMs: number;
  private readonly demoteForMs: number;
  private readonly maxPrepared: number;

  constructor(options: HybridExecutorOptions = {}) {
    this.mainBudgetMs = options.mainBudgetMs ?? 20;
    this.demoteForMs = options.demoteForMs ?? 60_000;
    this.maxPrepared = options.maxPrepared ?? 1024;
    this.pool = new WorkerPool({
      maxRunning: options.maxWorkers ?? 4,
      maxThreads: options.maxThreads ?? 64,
      maxQueue: options.maxQueue ?? 1024,
    });
  }

  async prepare(image: LoadedImage, limits: RunLimits): Promise<void> {
    const key = cacheKey(image.digest, limits);
    if (this.entries.has(key)) return;
    let p = this.pending.get(key);
    if (!p) {
      p = this.build(key, image, limits);
      this.pending.set(key, p);
    }
    try {
      const entry = await p;
      this.insert(entry);
    } finally {
      this.pending.delete(key);
    }
  }

  isPrepared(digest: Digest, limits?: RunLimits): boolean {
    if (limits) return this.entries.has(cacheKey(digest, limits));
    for (const k of this.entries.keys()) if (k.startsWith(digest)) return true;
    return false;
  }

  async run(
    digest: Digest,
    inputs: WasiInputs,
    limits: RunLimits,
    deadlineAt: number,
    cancel?: CancelToken,
  ): Promise<RunResult> {
    const key = cacheKey(digest, limits);
    const entry = this.entries.get(key);
    if (!entry) throw new WasmletError("INTERNAL", `module ${digest} is not prepared`);
    const start = performance.now();
    // LRU by timestamp: moving the entry to the back of the Map (delete + set) on every run rehashed the Map's
    // table now and then, garbage that outlived the young generation (the Map is old) and fed major GCs.
    entry.lastUsed = start;
    if (entry.runner && entry.demotedUntil <= start) {
      const budgetAt = start + this.mainBudgetMs;
      const runner = entry.runner;
      const result = runner.run(inputs, deadlineAt, budgetAt, limits.maxOutputBytes);
      // A component's reset (or new instance) waits until the answer is on its way.
      if (runner instanceof ComponentRunner) setImmediate(() => runner.settle());
      // Whatever its outcome (a timeout too), a run that held the main thread well past the budget (a host call
      // that overran it; twice the budget, so that a GC pause alone does not demote a fast function) moves the
      // function to workers, so it cannot do so again on the next request.
      const end = performance.now();
      if (result.overBudget || end > budgetAt + this.mainBudgetMs)
        entry.demotedUntil = end + this.demoteForMs;
      if (!result.overBudget) return result;
    }
    const result = await this.pool.run(entry.load, inputs, deadlineAt, limits.maxOutputBytes, cancel);
    result.durationMs = performance.now() - start;
    return result;
  }

  /** True while a worker thread computes (or is about to) a demoted function's invocation; sleepers do not count. */
  get workersBusy(): boolean {
    return this.pool.busy;
  }

  /** The worker pool's threads and jobs, for tests and diagnostics. */
  get poolStats(): WorkerPool["stats"] {
    return this.pool.stats;
  }

  async close(): Promise<void> {
    this.entries.clear();
    await this.pool.close();
  }

  private async build(key: string, image: LoadedImage, limits: RunLimits): Promise<Entry> {
    const memoryCapBytes = limits.memoryMiB * 1048576;
    const files = new Map(image.files);
    const fs: FsImageExtras = {
      dirs: image.dirs ? [...image.dirs] : undefined,
      symlinks: image.symlinks ? new Map(image.symlinks) : undefined,
      preopens: image.preopens ? [...image.preopens] : undefined,
    };
    if (isComponent(image.module)) {
      const component = await prepareComponent(image.module, limits.memoryMiB);
      const load: LoadSpec = { key, component, files, fs, memoryCapBytes };
      if (image.module.byteLength > MAIN_THREAD_COMPONENT_MAX_BYTES)
        return { key, load, demotedUntil: 0, lastUsed: 0 };
      const runner = new ComponentRunner(component, new FsImage(files, fs), memoryCapBytes);
      runner.warm();
      return { key, runner, load, demotedUntil: 0, lastUsed: 0 };
    }
    const inst = instrumentModule(image.module, { maxMemoryPages: limits.memoryMiB * 16 });
    // Small modules compile faster synchronously (a few ms, no hop through V8's compile threads and back);
    // large ones compile in the background so the event loop keeps serving.
    const bytes = inst.bytes as Uint8Array<ArrayBuffer>;
    const module =
      bytes.byteLength <= SYNC_COMPILE_MAX_BYTES
        ? new WebAssembly.Module(bytes)
        : await WebAssembly.compile(bytes);
    const meta = {
      fuelExport: inst.fuelExport,
      globalExports: inst.globalExports,
      resettable: inst.info.resettable,
      hasStartSection: inst.info.hasStartSection,
    };
    const runner = new ModuleRunner(module, meta, new FsImage(files, fs), memoryCapBytes);
    runner.warm();
    return {
      key,
      runner,
      load: { key, module, meta, files, fs, memoryCapBytes },
      demotedUntil: 0,
      lastUsed: 0,
    };
  }

  private insert(entry: Entry): void {
    entry.lastUsed = performance.now();
    this.entries.set(entry.key, entry);
    // Evictions happen on prepare only (rare next to runs): a scan for the least recently used is fine.
    while (this.entries.size > this.maxPrepared) {
      let oldest: Entry | undefined;
      for (const e of this.entries.values()) if (!oldest || e.lastUsed < oldest.lastUsed) oldest = e;
      if (!oldest) break;
      this.entries.delete(oldest.key);
      this.pool.unload(oldest.key);
    }
  }
}

function cacheKey(digest: Digest, limits: RunLimits): string {
  return `${digest}/${limits.memoryMiB}`;
}
