import { type Digest, type LoadedImage, WasmletError } from "../core/index.js";
import {
  capMemories,
  compileLazily,
  compileOnThread,
  instrumentModule,
  isComponent,
  LAZY_COMPILE_MIN_BYTES,
} from "../wasm/index.js";
import { ComponentRunner, prepareComponent } from "./component/index.js";
import { budgetSpent, startBudget } from "./cpu-budget.js";
import { WorkerPool } from "./pool.js";
import type { LoadSpec } from "./pool-worker.js";
import { reclaimSoon } from "./reclaim.js";
import { type BackgroundRewrite, rewriteInBackground } from "./rewrite.js";
import { ModuleRunner, type RunnerMeta } from "./runner.js";
import type { CancelToken, Executor, RunLimits, RunResult, WasiInputs } from "./types.js";
import { FsImage, type FsImageExtras } from "./wasi/index.js";

// Functions are compiled when a module is prepared, not at their first call (wasm/compile.ts sets V8's flag for
// the process), but for large modules (LAZY_COMPILE_MIN_BYTES).
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

/**
 * How long after its prepare a large module's rewrite starts when no run has come to start it (see Rewrite):
 * a module deployed and not called is made fit for the request thread soon anyway, just not on the first
 * answer's path.
 */
const REWRITE_DELAY_MS = 1000;

/** Compiles `bytes`: small modules synchronously, larger ones in the background, large ones lazily. */
function compileModule(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module | Promise<WebAssembly.Module> {
  if (bytes.byteLength <= SYNC_COMPILE_MAX_BYTES) return new WebAssembly.Module(bytes);
  if (bytes.byteLength < LAZY_COMPILE_MIN_BYTES) return WebAssembly.compile(bytes);
  return compileLazily(bytes);
}

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
  /** Compiled lazily (a large module): its first runs compile the functions they reach. */
  lazy: boolean;
  /** Lazily compiled and no run has finished yet: runs go to workers. */
  compiling: boolean;
  /** A large module that runs as uploaded (on workers) until its rewrite is done. */
  rewrite?: Rewrite;
}

/**
 * The deferred rewrite of a large module. Its first runs happen on a worker anyway (lazy compilation), and a
 * worker can be terminated at a deadline: there the module runs as uploaded (memory capped, nothing else
 * changed), so the first answer does not wait for the instruction walk (0.3-0.9 s for 30 MB here, the largest
 * part of create -> first answer). The walk starts on its own thread once the first run has answered (or
 * REWRITE_DELAY_MS after the prepare), and the rewritten module then takes over: one more worker run compiles
 * what it reaches, and the request thread runs it from then on.
 */
interface Rewrite {
  /** The module as uploaded, in shared memory (the rewrite thread reads it without a copy). */
  source: Uint8Array;
  maxMemoryPages: number;
  timer: NodeJS.Timeout | undefined;
  task: BackgroundRewrite | undefined;
  /** Settles once the rewritten module serves (or the rewrite failed or was cancelled). */
  adopted: Promise<void>;
  settle: () => void;
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
      // Preparing a large module left ~10x its size of garbage (upload, image, rewritten bytes) in an idle process.
      // With a rewrite to come, the collection waits for it (it makes more garbage): a forced full GC took ~70 ms
      // of the request thread, inside the first answer's time when it came 500 ms after the prepare.
      if (entry.lazy && !entry.rewrite) reclaimSoon();
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
    // A lazily compiled module's first runs compile every function they reach, inside V8 and without a deadline
    // check (a 30 MB module: 80-270 ms here): they go to a worker, which shares the compiled code with this
    // thread, until one has finished.
    if (entry.runner && entry.demotedUntil <= start && !entry.compiling) {
      const budgetAt = startBudget(start, this.mainBudgetMs);
      const runner = entry.runner;
      const result = runner.run(inputs, deadlineAt, budgetAt, limits.maxOutputBytes);
      // A component's reset (or new instance) waits until the answer is on its way.
      if (runner instanceof ComponentRunner) setImmediate(() => runner.settle());
      // Whatever its outcome (a timeout too), a run that held the main thread well past the budget (a host call
      // that overran it; twice the budget, so that a GC pause alone does not demote a fast function) moves the
      // function to workers, so it cannot do so again on the next request. Spent is CPU time where the thread's
      // clock is known (cpu-budget.ts), so time the scheduler paused the thread does not count.
      const end = performance.now();
      if (
        result.overBudget ||
        (end > budgetAt + this.mainBudgetMs && budgetSpent(end) > 2 * this.mainBudgetMs)
      )
        entry.demotedUntil = end + this.demoteForMs;
      if (!result.overBudget) return result;
    }
    const result = await this.pool.run(entry.load, inputs, deadlineAt, limits.maxOutputBytes, cancel);
    if (entry.rewrite) this.startRewrite(entry);
    else if (entry.compiling && !result.error) {
      entry.compiling = false;
      // The worker's instance and memory image were for compiling: the runs go to the main thread from now on.
      if (entry.demotedUntil <= performance.now()) this.pool.unload(entry.key);
    }
    result.durationMs = performance.now() - start;
    return result;
  }

  /**
   * Resolves once a large module prepared under `limits` runs its rewritten form (see Rewrite), or at once when
   * there is nothing to wait for. For tests and diagnostics.
   */
  async rewritten(digest: Digest, limits: RunLimits): Promise<void> {
    await this.entries.get(cacheKey(digest, limits))?.rewrite?.adopted;
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
    for (const e of this.entries.values()) stopRewrite(e);
    this.entries.clear();
    await this.pool.close();
  }

  private async build(key: string, image: LoadedImage, limits: RunLimits): Promise<Entry> {
    const memoryCapBytes = limits.memoryMiB * 1048576;
    const files = sharedFiles(image.files);
    const fs: FsImageExtras = {
      dirs: image.dirs ? [...image.dirs] : undefined,
      symlinks: image.symlinks ? new Map(image.symlinks) : undefined,
      preopens: image.preopens ? [...image.preopens] : undefined,
    };
    if (isComponent(image.module)) {
      const component = await prepareComponent(image.module, limits.memoryMiB);
      const load: LoadSpec = { key, component, files, fs, memoryCapBytes };
      if (image.module.byteLength > MAIN_THREAD_COMPONENT_MAX_BYTES)
        return { key, load, demotedUntil: 0, lastUsed: 0, lazy: false, compiling: false };
      const runner = new ComponentRunner(component, new FsImage(files, fs), memoryCapBytes);
      runner.warm();
      return { key, runner, load, demotedUntil: 0, lastUsed: 0, lazy: false, compiling: false };
    }
    if (image.module.byteLength >= LAZY_COMPILE_MIN_BYTES) {
      // Its first runs go to a worker: one boots meanwhile if none is idle.
      this.pool.prestart();
      const entry = this.buildUnrewritten(key, image, limits, files, fs, memoryCapBytes);
      if (entry) return entry;
    }
    // Its bytes passed inspectModule when its version was made; V8 validates the rewrite as it compiles it.
    const inst = instrumentModule(image.module, { maxMemoryPages: limits.memoryMiB * 16, validate: false });
    // Small modules compile faster synchronously (a few ms, no hop through V8's compile threads and back);
    // larger ones compile in the background so the event loop keeps serving; large ones lazily.
    const lazy = inst.bytes.byteLength >= LAZY_COMPILE_MIN_BYTES;
    const module = await compileModule(inst.bytes as Uint8Array<ArrayBuffer>);
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
      lazy,
      compiling: lazy,
    };
  }

  /**
   * A large module's entry that runs it as uploaded, with its memory capped, on workers only until its rewrite
   * is done (see Rewrite); undefined when it cannot run so (no `memory` export for the WASI host).
   */
  private buildUnrewritten(
    key: string,
    image: LoadedImage,
    limits: RunLimits,
    files: Map<string, Uint8Array>,
    fs: FsImageExtras,
    memoryCapBytes: number,
  ): Entry | undefined {
    const maxMemoryPages = limits.memoryMiB * 16;
    // Compiled so already when the API checked the upload in this process (wasm/compileCapped).
    const module =
      image.compiled?.maxMemoryPages === maxMemoryPages
        ? image.compiled.module
        : compileModule(capMemories(image.module, maxMemoryPages) as Uint8Array<ArrayBuffer>);
    if (module instanceof Promise) return undefined;
    if (!WebAssembly.Module.exports(module).some((e) => e.name === "memory" && e.kind === "memory"))
      return undefined;
    // Nothing in it checks a deadline or can be reset: each run gets a new instance, on a worker that the pool
    // terminates at the deadline.
    const meta: RunnerMeta = { globalExports: [], resettable: false, hasStartSection: false };
    let settle = () => {};
    const adopted = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const shared = files.get(image.entry);
    const entry: Entry = {
      key,
      load: { key, module, meta, files, fs, memoryCapBytes },
      demotedUntil: 0,
      lastUsed: 0,
      lazy: true,
      compiling: true,
      rewrite: {
        source:
          shared?.buffer instanceof SharedArrayBuffer && shared.byteLength === image.module.byteLength
            ? shared
            : sharedCopy(image.module),
        maxMemoryPages,
        timer: undefined,
        task: undefined,
        adopted,
        settle,
      },
    };
    const rewrite = entry.rewrite as Rewrite;
    rewrite.timer = setTimeout(() => this.startRewrite(entry), REWRITE_DELAY_MS);
    rewrite.timer.unref();
    return entry;
  }

  /** Starts the deferred rewrite of `entry` (once); the rewritten module takes over when it is done. */
  private startRewrite(entry: Entry): void {
    const rewrite = entry.rewrite;
    if (!rewrite || rewrite.task) return;
    clearTimeout(rewrite.timer);
    const task = rewriteInBackground(rewrite.source, rewrite.maxMemoryPages);
    rewrite.task = task;
    const current = () => this.entries.get(entry.key) === entry && entry.rewrite === rewrite;
    task.done
      .then(async ({ bytes, meta }) => {
        // Released or evicted meanwhile: nothing to take over.
        if (!current()) return;
        // On the compile thread, lazily, with its memory capped as the rewrite left it: the request thread keeps
        // serving. A module released meanwhile is still compiled there (one push into V8), then dropped.
        const module = await compileOnThread(bytes, rewrite.maxMemoryPages);
        if (!current()) return;
        const { files, fs, memoryCapBytes } = entry.load;
        const runner = new ModuleRunner(module, meta, new FsImage(files, fs), memoryCapBytes);
        runner.warm();
        // Workers that loaded the module as uploaded drop it; the next run loads the rewritten one, and
        // compiles what it reaches there (`compiling`) before the request thread runs it.
        this.pool.unload(entry.key);
        entry.load = { key: entry.key, module, meta, files, fs, memoryCapBytes };
        entry.runner = runner;
        entry.compiling = true;
        entry.rewrite = undefined;
      })
      // A failed rewrite leaves the module on workers, as uploaded: still stopped at every deadline.
      .catch(() => {})
      .finally(() => {
        rewrite.settle();
        // The upload, the image and the rewrite's input and output are garbage now (see prepare).
        reclaimSoon();
      });
  }

  /** Boots a pool worker if none is idle (a large module's first runs go to one; see WorkerPool.prestart). */
  prestartWorkers(): void {
    this.pool.prestart();
  }

  /**
   * Forgets every prepared form of `digest` (its functions were deleted or moved to another version): the
   * compiled module, instances, memory images and files go with the last reference, here and in the workers.
   */
  release(digest: Digest): void {
    for (const [key, e] of this.entries)
      if (key.startsWith(`${digest}/`)) {
        this.entries.delete(key);
        stopRewrite(e);
        this.pool.unload(e.key);
        if (e.lazy) reclaimSoon();
      }
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
      stopRewrite(oldest);
      this.pool.unload(oldest.key);
    }
  }
}

/** Files this large are put in shared memory once, so that a worker that loads the image copies none of them. */
const SHARED_FILE_MIN_BYTES = 64 * 1024;

/**
 * The image's files for the runners, each in a buffer of its own (a file loaded from a layer is a view of the
 * whole layer, which it would keep alive), the large ones in SharedArrayBuffers: a structured clone to a worker
 * shares those instead of copying them (the module itself is a file of the image: 30 MB per worker that ran a
 * large function). Image files are never written (the overlay copies on write).
 */
function sharedFiles(files: ReadonlyMap<string, Uint8Array>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [path, bytes] of files) {
    if (bytes.buffer instanceof SharedArrayBuffer) out.set(path, bytes);
    else if (bytes.byteLength >= SHARED_FILE_MIN_BYTES) {
      const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
      shared.set(bytes);
      out.set(path, shared);
    } else out.set(path, bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice());
  }
  return out;
}

/** Cancels an entry's pending rewrite (the entry is gone). */
function stopRewrite(entry: Entry): void {
  const rewrite = entry.rewrite;
  if (!rewrite) return;
  entry.rewrite = undefined;
  clearTimeout(rewrite.timer);
  rewrite.task?.cancel();
  rewrite.settle();
}

function sharedCopy(bytes: Uint8Array): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  return shared;
}

function cacheKey(digest: Digest, limits: RunLimits): string {
  return `${digest}/${limits.memoryMiB}`;
}
