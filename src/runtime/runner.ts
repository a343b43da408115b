import { stretchBudget } from "./cpu-budget.js";
import type { RunResult, WasiInputs } from "./types.js";
import { type FsImage, type HostControl, WasiExit, WasiHost } from "./wasi/index.js";

/** How many loop iterations / calls run between two deadline checks (the check reads the clock). */
const FUEL_CHUNK = 20_000;

/** Thrown from the `deadline` import (or a host call) to unwind the guest when its time is up. */
class DeadlineSignal extends Error {
  /**
   * @param budgetOnly the run is stopped because it may not go on on this thread (its main-thread budget ran
   * out, or it wants to wait), not because its deadline passed: it is to be run again elsewhere.
   */
  constructor(readonly budgetOnly: boolean) {
    super("deadline");
  }
}

/** Thrown from the `memory_grow` import when the guest asks for more than its memory cap. */
class MemoryCapSignal extends Error {}

/** Thrown when the caller cancelled the invocation (its client went away). */
class CancelSignal extends Error {}

/**
 * Where a runner may wait: given to runners on worker threads. A runner without one (the request thread) never
 * waits: a guest that wants to sleep is stopped there and run again on a worker.
 */
export interface Waiter {
  /** Blocks up to `ms`; returns false when woken early because the invocation was cancelled. */
  wait(ms: number): boolean;
  /** True once the current invocation is cancelled. */
  readonly cancelled: boolean;
  /** Called with true before a wait of PARK_MIN_MS or more and false after it: the CPU is free meanwhile. */
  parked(on: boolean): void;
}

/** Waits shorter than this are not worth telling the pool about (a message each way). */
const PARK_MIN_MS = 5;

/** What a runner needs to know of its (instrumented) module. */
export interface RunnerMeta {
  /**
   * The fuel global's export; absent for a module run as uploaded (not rewritten, on a worker only: nothing in it
   * checks the deadline, the pool terminates the thread instead).
   */
  fuelExport?: string;
  globalExports: readonly string[];
  /** False when restoring memory and globals does not return an instance to its post-instantiation state. */
  resettable: boolean;
  /** With a start section, memory after instantiation may differ between instances: each gets its own image. */
  hasStartSection: boolean;
}

/**
 * Result of one run on a runner; `overBudget` means it was stopped before its deadline because it may not go
 * on on this thread (budget spent, or it wants to wait): its outputs are to be discarded and it run elsewhere.
 */
export interface RunnerResult extends RunResult {
  overBudget?: boolean;
}

interface Slot {
  memory: WebAssembly.Memory;
  start: () => void;
  fuel: WebAssembly.Global | undefined;
  /** Mutable globals with their values right after instantiation. */
  globals: { global: WebAssembly.Global; initial: number | bigint }[];
  /**
   * Linear memory right after instantiation (before `_start`), as the chunks that are not all zero; absent when
   * the module is not resettable (never restored, so never taken: ~20 ms for a 4 MiB memory).
   */
  snapshot: MemoryImage | undefined;
}

/** Granularity of a MemoryImage: the unit that is either copied back or zero-filled on reset. */
const IMAGE_CHUNK = 4096;

/**
 * A memory's content as runs of non-zero chunks; everything else is zero. Right after instantiation a module's
 * memory is its data segments and zeros (a C or Rust module with a 1 MiB stack: ~17 pages, a few KiB of data),
 * and zero-filling is about twice as fast as copying (measured: 17 pages, copy 27 µs, fill 12 µs).
 */
export interface MemoryImage {
  byteLength: number;
  /** Non-overlapping, ascending [offset, bytes] runs. */
  runs: { offset: number; bytes: Uint8Array }[];
}

export function takeImage(mem: Uint8Array): MemoryImage {
  const runs: MemoryImage["runs"] = [];
  const words = new Uint32Array(mem.buffer, mem.byteOffset, mem.byteLength >>> 2);
  const perChunk = IMAGE_CHUNK >>> 2;
  let runStart = -1;
  for (let c = 0; c * IMAGE_CHUNK < mem.byteLength; c++) {
    let zero = true;
    for (let i = c * perChunk, end = Math.min(words.length, i + perChunk); i < end; i++)
      if (words[i] !== 0) {
        zero = false;
        break;
      }
    if (!zero && runStart < 0) runStart = c * IMAGE_CHUNK;
    if (zero && runStart >= 0) {
      runs.push({ offset: runStart, bytes: mem.slice(runStart, c * IMAGE_CHUNK) });
      runStart = -1;
    }
  }
  if (runStart >= 0) runs.push({ offset: runStart, bytes: mem.slice(runStart) });
  return { byteLength: mem.byteLength, runs };
}

/** Puts `mem` back to `image`: zero between the runs, the runs' bytes copied back. */
export function restoreImage(mem: Uint8Array, image: MemoryImage): void {
  let pos = 0;
  for (const run of image.runs) {
    if (run.offset > pos) mem.fill(0, pos, run.offset);
    mem.set(run.bytes, run.offset);
    pos = run.offset + run.bytes.byteLength;
  }
  if (pos < image.byteLength) mem.fill(0, pos, image.byteLength);
}

/**
 * Runs one prepared module, one invocation at a time, each on a clean instance: the same instance is reused
 * after restoring its memory and mutable globals to their state right after instantiation (a copy of the
 * memory: ~µs for a small module), or a fresh one is made when a reset is not possible (memory grew, the
 * guest trapped or hit its deadline, or the module uses features a reset cannot undo).
 * Used on the main thread and inside pool workers alike.
 */
export class ModuleRunner implements HostControl {
  private slot: Slot | undefined;
  private readonly host: WasiHost;
  private deadlineAt = 0;
  /** The post-instantiation memory image, shared by this runner's instances (data segments are the same). */
  private image: MemoryImage | undefined;
  private budgetAt = 0;
  private current: Slot | undefined;
  private readonly imports: WebAssembly.Imports;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly meta: RunnerMeta,
    fs: FsImage,
    private readonly memoryCapBytes: number,
    private readonly waiter?: Waiter,
  ) {
    this.host = new WasiHost({ fs, control: this });
    this.imports = {
      wasi_snapshot_preview1: this.host.imports as unknown as WebAssembly.ModuleImports,
      wasmlet: { deadline: () => this.onDeadline(), memory_grow: (delta: number) => this.onGrow(delta) },
    };
  }

  /** Instantiates ahead of the first request, so that one pays no instantiation. */
  warm(): void {
    if (!this.slot) this.slot = this.instantiate();
  }

  /**
   * Runs `_start` with `inputs`. Stops the guest at `deadlineAt` (performance.now() time), or earlier at
   * `budgetAt` when given, or when it wants to wait and this runner has no Waiter (then `overBudget` is set
   * and the outputs are to be discarded). A run that writes more than `maxOutputBytes` to stdout fails.
   */
  run(inputs: WasiInputs, deadlineAt: number, budgetAt = deadlineAt, maxOutputBytes?: number): RunnerResult {
    const t0 = performance.now();
    const slot = this.slot ?? this.instantiate();
    this.slot = undefined;
    this.current = slot;
    this.deadlineAt = deadlineAt;
    this.budgetAt = Math.min(budgetAt, deadlineAt);
    if (slot.fuel) slot.fuel.value = FUEL_CHUNK;
    this.host.setMemory(slot.memory);
    this.host.begin(inputs, maxOutputBytes);
    let exitCode = 0;
    let error: RunResult["error"];
    let overBudget = false;
    let reusable = this.meta.resettable;
    try {
      slot.start();
    } catch (e) {
      if (e instanceof WasiExit) {
        exitCode = e.code;
        if (exitCode !== 0) error = { kind: "exit", message: `exited with status ${exitCode}` };
      } else {
        reusable = false;
        if (e instanceof DeadlineSignal) {
          overBudget = e.budgetOnly;
          error = { kind: "timeout", message: "deadline exceeded" };
        } else if (e instanceof CancelSignal) {
          error = { kind: "cancelled", message: "cancelled: the caller went away" };
        } else if (e instanceof MemoryCapSignal) {
          error = { kind: "oom", message: `memory limit of ${this.memoryCapBytes / 1048576} MiB exceeded` };
        } else {
          error = { kind: "trap", message: trapMessage(e) };
        }
        exitCode = 1;
      }
    }
    this.current = undefined;
    // A module run as uploaded grows its memory natively: near its (capped) maximum, a memory.grow returns -1 and
    // the guest fails its own way, unseen by the host. A failure that close to the cap (within an eighth of it, at
    // least 2 MiB: an allocator grows by a MiB or more) is reported as the rewritten module's memory_grow does.
    if (
      this.meta.fuelExport === undefined &&
      (error?.kind === "exit" || error?.kind === "trap") &&
      slot.memory.buffer.byteLength >= this.memoryCapBytes - Math.max(2 * 1048576, this.memoryCapBytes / 8)
    )
      error = { kind: "oom", message: `memory limit of ${this.memoryCapBytes / 1048576} MiB exceeded` };
    if (this.host.stdoutOverflowed && (!error || error.kind === "exit"))
      error = {
        kind: "output",
        message: `wrote more than ${maxOutputBytes ?? this.host.stdoutCapBytes} bytes to stdout (its output limit)`,
      };
    const out = this.host.end(exitCode);
    // Collected files are output too: one limit bounds all a run hands back, stdout and files together.
    if (out.files !== undefined && (!error || error.kind === "exit")) {
      const limit = maxOutputBytes ?? this.host.stdoutCapBytes;
      let total = out.stdout.byteLength;
      for (const bytes of out.files.values()) total += bytes.byteLength;
      if (total > limit) {
        error = {
          kind: "output",
          message: `handed back ${total} bytes of stdout and files, over its output limit of ${limit}`,
        };
        out.files = new Map();
      }
    }
    if (reusable && slot.snapshot && slot.memory.buffer.byteLength === slot.snapshot.byteLength) {
      this.reset(slot, slot.snapshot);
      this.slot = slot;
    }
    // A literal, not `{ ...out, durationMs }`: on this V8 (11.3), adding a property to an object made by spread
    // allocates its property store in old space, ~90 bytes of old-generation garbage per request that alone
    // brought on a major GC every few seconds under load (measured with --trace-gc-nvp).
    const result: RunnerResult = {
      exitCode: out.exitCode,
      stdout: out.stdout,
      stderr: out.stderr,
      files: out.files,
      durationMs: performance.now() - t0,
    };
    if (error) result.error = error;
    if (overBudget) result.overBudget = true;
    return result;
  }

  private instantiate(): Slot {
    const instance = new WebAssembly.Instance(this.module, this.imports);
    const ex = instance.exports;
    const memory = ex.memory as WebAssembly.Memory;
    const globals = this.meta.globalExports.map((name) => {
      const global = ex[name] as WebAssembly.Global;
      return { global, initial: global.value as number | bigint };
    });
    return {
      memory,
      start: ex._start as () => void,
      fuel: this.meta.fuelExport === undefined ? undefined : (ex[this.meta.fuelExport] as WebAssembly.Global),
      globals,
      snapshot: this.meta.resettable ? this.imageOf(memory) : undefined,
    };
  }

  private imageOf(memory: WebAssembly.Memory): MemoryImage {
    const mem = new Uint8Array(memory.buffer);
    if (this.meta.hasStartSection) return takeImage(mem);
    if (this.image?.byteLength !== mem.byteLength) this.image = takeImage(mem);
    return this.image;
  }

  private reset(slot: Slot, snapshot: MemoryImage): void {
    restoreImage(new Uint8Array(slot.memory.buffer), snapshot);
    for (const g of slot.globals) g.global.value = g.initial;
  }

  private onDeadline(): void {
    this.checkpoint();
    if (this.current?.fuel) this.current.fuel.value = FUEL_CHUNK;
  }

  /** HostControl: throws past the budget or deadline, or once cancelled. */
  checkpoint(): void {
    const now = performance.now();
    if (now >= this.budgetAt) {
      // Before the deadline, the request thread's budget may be stretched by the time its thread was paused.
      const later = now < this.deadlineAt ? stretchBudget(now) : undefined;
      if (later === undefined) throw new DeadlineSignal(now < this.deadlineAt);
      this.budgetAt = Math.min(later, this.deadlineAt);
    }
    if (this.waiter?.cancelled) throw new CancelSignal();
  }

  /**
   * HostControl: waits `ms` where waiting is allowed. Without a Waiter (the request thread) nothing waits: the
   * run stops here to be moved to a worker. On a worker the wait ends at the deadline (then the run times out)
   * or when the invocation is cancelled.
   */
  sleep(ms: number): void {
    if (!(ms > 0)) return;
    const waiter = this.waiter;
    const now = performance.now();
    if (!waiter) throw new DeadlineSignal(now < this.deadlineAt);
    const left = this.deadlineAt - now;
    const span = Math.min(ms, Math.max(0, left));
    const park = span >= PARK_MIN_MS;
    if (park) waiter.parked(true);
    const woken = !waiter.wait(span);
    if (park) waiter.parked(false);
    if (woken || waiter.cancelled) throw new CancelSignal();
    if (ms >= left) throw new DeadlineSignal(false);
  }

  private onGrow(delta: number): number {
    // Each grow, even by 0 pages, makes V8 replace the memory's ArrayBuffer: cheap alone, costly in a loop.
    this.checkpoint();
    const memory = this.current?.memory;
    if (!memory) return -1;
    const pages = memory.buffer.byteLength / 65536;
    if ((pages + delta) * 65536 > this.memoryCapBytes) throw new MemoryCapSignal();
    try {
      return memory.grow(delta);
    } catch {
      throw new MemoryCapSignal();
    }
  }
}

function trapMessage(e: unknown): string {
  if (e instanceof WebAssembly.RuntimeError) return `trap: ${e.message}`;
  if (e instanceof RangeError) return `trap: ${e.message}`; // stack overflow
  return `host error: ${e instanceof Error ? e.message : String(e)}`;
}
