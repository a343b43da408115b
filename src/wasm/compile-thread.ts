import { Worker } from "node:worker_threads";
import { exposeGc } from "../core/index.js";
import { type CappedModule, compileCapped, dropLazyHolds, lazyFlagState } from "./compile.js";
import type { ModuleCompile } from "./compile-stream.js";

/**
 * A compile followed by the compile thread: `cell` is an Int32Array over shared memory. [THERE] is where the bytes
 * that arrived end (a position in `buffer`; they never change after), [STATE] whether the module is all there
 * (FINISHED, its length in [LENGTH]), not to be compiled (ABANDONED) or still arriving (0), and [GEN] is bumped,
 * and notified, when the thread is to look again. Written by ThreadCompile only.
 */
export interface ThreadJob {
  id: number;
  /** The shared memory the module's bytes are (or arrive) in. */
  buffer: SharedArrayBuffer;
  /** Where the module's first byte is in `buffer`. */
  start: number;
  cell: Int32Array;
  maxMemoryPages: number;
}

/** The thread's answer to a job: the module, or undefined when V8 refused the bytes or the job was abandoned. */
export interface ThreadReply {
  id: number;
  module: WebAssembly.Module | undefined;
}

/** What the thread is started with (its workerData). */
export interface ThreadData {
  lazyFlag: SharedArrayBuffer;
  slot: number;
}

export const THERE = 0;
export const STATE = 1;
export const LENGTH = 2;
export const GEN = 3;
export const FINISHED = 1;
export const ABANDONED = 2;

/** The compile thread's slot in the lazy flag's state (wasm/compile.ts). */
const LAZY_SLOT = 1;

/**
 * Bytes that arrive before the thread is woken again: each wake is a task on its event loop and a push into V8,
 * so not one per 64 KiB read.
 */
const WAKE_BYTES = 512 * 1024;

/** A job's end: the module, V8 refused the bytes (or the job was abandoned), or the thread failed or ended. */
type Outcome = WebAssembly.Module | "refused" | "failed";

/** A started thread and its jobs waiting for an answer, by id. */
interface Running {
  worker: Worker;
  waiting: Map<number, (outcome: Outcome) => void>;
}

/**
 * The thread that compiles large modules (compile-thread-worker.ts), started once and kept (~13 MiB of RSS here):
 * a Node isolate's boot (30-70 ms of CPU here) and its load of what `compileStreaming` needs (~58 ms) would
 * otherwise fall on each large create, on the 2 cores its upload uses. Jobs of a thread that failed or ended end
 * "failed" (the caller then compiles on its own thread); the next job starts another thread.
 */
class CompileThread {
  private current: Running | undefined;
  private next = 1;

  start(): Running {
    if (this.current) return this.current;
    // The thread collects its heap (core/fullGc): the flag that allows it is set now, not by the thread while
    // this one changes the lazy flag.
    exposeGc();
    const worker = new Worker(new URL("./compile-thread-worker.js", import.meta.url), {
      workerData: { lazyFlag: lazyFlagState(), slot: LAZY_SLOT } satisfies ThreadData,
    });
    const waiting: Running["waiting"] = new Map();
    const current: Running = { worker, waiting };
    worker.on("message", (reply: ThreadReply) => {
      const done = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (waiting.size === 0) worker.unref();
      done?.(reply.module instanceof WebAssembly.Module ? reply.module : "refused");
    });
    let ended = false;
    const failed = () => {
      if (ended) return;
      ended = true;
      // Not when another thread took its place meanwhile: the slot's holds are that one's.
      const replaced = this.current !== undefined && this.current !== current;
      if (this.current === current) this.current = undefined;
      if (!replaced) dropLazyHolds(LAZY_SLOT);
      for (const done of waiting.values()) done("failed");
      waiting.clear();
    };
    worker.on("error", failed);
    worker.on("exit", failed);
    worker.unref();
    this.current = current;
    return current;
  }

  run(job: Omit<ThreadJob, "id">): Promise<Outcome> {
    const { worker, waiting } = this.start();
    const id = this.next++;
    return new Promise((resolve) => {
      worker.postMessage({ id, ...job } satisfies ThreadJob);
      // Kept alive while a job waits for it, as a read would be; idle, it does not hold the process.
      if (waiting.size === 0) worker.ref();
      waiting.set(id, resolve);
    });
  }

  async stop(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    await current?.worker.terminate();
  }
}

const thread = new CompileThread();

/**
 * Compiles a large module that is all there (a rewritten one) on the compile thread, lazily and with its memories
 * capped as StreamingCompile does: `new WebAssembly.Module` of a rewritten 30 MB module held the request thread
 * 60–100 ms here, and fed to V8 a slice per turn of its event loop it still took ~60 ms of that thread's CPU,
 * beside every other function's requests. Bytes not in shared memory are copied there first. When the thread
 * failed, the module is compiled on this thread (compileCapped). Rejects when V8 refuses the bytes.
 */
export async function compileOnThread(
  bytes: Uint8Array,
  maxMemoryPages: number,
): Promise<WebAssembly.Module> {
  let shared = bytes;
  if (!(bytes.buffer instanceof SharedArrayBuffer)) {
    shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
    shared.set(bytes);
  }
  const compile = new ThreadCompile(shared, maxMemoryPages);
  compile.finish(shared, shared.byteLength);
  const outcome = await compile.outcome;
  if (outcome === "refused") throw new Error("V8 refused the module");
  if (outcome === "failed") return compileCapped(shared, maxMemoryPages).module;
  return outcome;
}

/** Starts the compile thread now rather than at the first large upload (serve does, at start). */
export function startCompileThread(): void {
  thread.start();
}

/** Ends the compile thread (tests); the next compile starts another. */
export function stopCompileThread(): Promise<void> {
  return thread.stop();
}

/**
 * A large module compiled as its bytes arrive in shared memory, by the compile thread (StreamingCompile there),
 * so that V8's pushes and its finish (~50 ms of a 30 MB upload here, most of it first-touch page faults of V8's
 * buffers) run beside the request thread's reads instead of on it. Same contract as StreamingCompile: `advance`
 * and `finish` take views of `module`'s buffer that start at its first byte.
 */
export class ThreadCompile implements ModuleCompile {
  readonly result: Promise<CappedModule | undefined>;
  /** How the job ended: `result` without telling a refusal from a thread that failed. */
  readonly outcome: Promise<Outcome>;
  private readonly cell = new Int32Array(new SharedArrayBuffer(16));
  private readonly buffer: SharedArrayBuffer;
  private readonly start: number;
  private told: number;
  private ended = false;

  constructor(module: Uint8Array, maxMemoryPages: number) {
    if (!(module.buffer instanceof SharedArrayBuffer))
      throw new TypeError("a thread compile needs shared memory");
    this.buffer = module.buffer;
    this.start = module.byteOffset;
    this.told = this.start;
    Atomics.store(this.cell, THERE, this.start);
    this.outcome = thread.run({ buffer: this.buffer, start: this.start, cell: this.cell, maxMemoryPages });
    this.result = this.outcome.then((outcome) =>
      outcome instanceof WebAssembly.Module ? { module: outcome, maxMemoryPages } : undefined,
    );
  }

  advance(bytes: Uint8Array, end: number): void {
    if (this.ended) return;
    if (bytes.buffer !== this.buffer || bytes.byteOffset !== this.start) {
      this.abandon();
      return;
    }
    const there = this.start + end;
    if (there <= Atomics.load(this.cell, THERE)) return;
    Atomics.store(this.cell, THERE, there);
    if (there - this.told >= WAKE_BYTES) this.wake();
  }

  finish(bytes: Uint8Array, length: number): void {
    if (this.ended) return;
    this.advance(bytes, length);
    if (this.ended) return;
    this.ended = true;
    Atomics.store(this.cell, LENGTH, length);
    Atomics.store(this.cell, STATE, FINISHED);
    this.wake();
  }

  abandon(): void {
    if (this.ended) return;
    this.ended = true;
    Atomics.store(this.cell, STATE, ABANDONED);
    this.wake();
  }

  private wake(): void {
    this.told = Atomics.load(this.cell, THERE);
    Atomics.add(this.cell, GEN, 1);
    Atomics.notify(this.cell, GEN);
  }
}
