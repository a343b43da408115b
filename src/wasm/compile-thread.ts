import { Worker } from "node:worker_threads";
import { type CappedModule, lazyFlagState } from "./compile.js";
import type { ModuleCompile } from "./compile-stream.js";

/**
 * A compile followed by the compile thread: `cell` is an Int32Array over shared memory. [THERE] is where the bytes
 * that arrived end (a position in `buffer`; they never change after), [STATE] whether the module is all there
 * (FINISHED, its length in [LENGTH]) or not to be compiled (ABANDONED), and [GEN] is bumped, and notified, when
 * the thread is to look again.
 */
export interface ThreadJob {
  id: number;
  /** Shared memory the bytes arrive in, or a module all there (moved to the thread). */
  buffer: SharedArrayBuffer | ArrayBuffer;
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

export const THERE = 0;
export const STATE = 1;
export const LENGTH = 2;
export const GEN = 3;
export const ARRIVING = 0;
export const FINISHED = 1;
export const ABANDONED = 2;

/**
 * Bytes that arrive before the thread is woken again: each wake is a task on its event loop and a push into V8,
 * so not one per 64 KiB read.
 */
const WAKE_BYTES = 512 * 1024;

/**
 * The thread that compiles large modules (compile-thread-worker.ts), started once and kept (~13 MiB of RSS here):
 * a Node isolate's boot (30-70 ms of CPU here) and its load of what `compileStreaming` needs (~58 ms) would
 * otherwise fall on each large create, on the 2 cores its upload uses. Jobs of a thread that failed or ended
 * resolve undefined (the caller then compiles the usual way); the next job starts another.
 */
/** A started thread and its jobs waiting for an answer, by id. */
interface Running {
  worker: Worker;
  waiting: Map<number, (module: WebAssembly.Module | undefined) => void>;
}

class CompileThread {
  private current: Running | undefined;
  private next = 1;

  start(): Running {
    if (this.current) return this.current;
    const worker = new Worker(new URL("./compile-thread-worker.js", import.meta.url), {
      workerData: { lazyFlag: lazyFlagState() },
    });
    const waiting: Running["waiting"] = new Map();
    const current: Running = { worker, waiting };
    worker.on("message", (reply: ThreadReply) => {
      const done = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (waiting.size === 0) worker.unref();
      done?.(reply.module instanceof WebAssembly.Module ? reply.module : undefined);
    });
    const failed = () => {
      if (this.current === current) this.current = undefined;
      for (const done of waiting.values()) done(undefined);
      waiting.clear();
    };
    worker.on("error", failed);
    worker.on("exit", failed);
    worker.unref();
    this.current = current;
    return current;
  }

  run(job: Omit<ThreadJob, "id">): Promise<WebAssembly.Module | undefined> {
    const { worker, waiting } = this.start();
    const id = this.next++;
    return new Promise((resolve) => {
      // Kept alive while a job waits for it, as a read would be; idle, it does not hold the process.
      if (waiting.size === 0) worker.ref();
      waiting.set(id, resolve);
      const { buffer } = job;
      worker.postMessage({ id, ...job } satisfies ThreadJob, buffer instanceof ArrayBuffer ? [buffer] : []);
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
 * beside every other function's requests. A `bytes` not in shared memory has its buffer moved to the thread: the
 * caller must not use it after. Rejects when V8 refuses the bytes or the thread failed.
 */
export async function compileOnThread(
  bytes: Uint8Array,
  maxMemoryPages: number,
): Promise<WebAssembly.Module> {
  const cell = new Int32Array(new SharedArrayBuffer(16));
  Atomics.store(cell, THERE, bytes.byteOffset + bytes.byteLength);
  Atomics.store(cell, LENGTH, bytes.byteLength);
  Atomics.store(cell, STATE, FINISHED);
  const module = await thread.run({ buffer: bytes.buffer, start: bytes.byteOffset, cell, maxMemoryPages });
  if (!module) throw new Error("V8 refused the module");
  return module;
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
    this.result = thread
      .run({ buffer: this.buffer, start: this.start, cell: this.cell, maxMemoryPages })
      .then((compiled) => (compiled ? { module: compiled, maxMemoryPages } : undefined));
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
