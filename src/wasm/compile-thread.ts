import { Worker } from "node:worker_threads";
import { type CappedModule, lazyFlagState } from "./compile.js";
import type { CompileReply, CompileRequest } from "./compile-worker.js";

/**
 * A thread with nothing to compile for this long ends (it holds the wire bytes V8 copied of what it compiled until
 * its next garbage collection, which an idle thread seldom does); a new one boots (~30 ms) for the next module,
 * while its upload begins (prestartCompileThread).
 */
const IDLE_EXIT_MS = 2000;

/** Told how far a module arrived only after this many more bytes: fewer messages, about as soon. */
const ADVANCE_STEP_BYTES = 256 * 1024;

let worker: Worker | undefined;
let idle: NodeJS.Timeout | undefined;
let nextId = 1;
const waiting = new Map<number, (m: WebAssembly.Module | undefined) => void>();

function thread(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL("./compile-worker.js", import.meta.url), {
    workerData: { lazyFlag: lazyFlagState() },
  });
  w.on("message", (reply: CompileReply) => {
    const done = waiting.get(reply.id);
    waiting.delete(reply.id);
    done?.(reply.module);
    if (waiting.size === 0) rest(w);
  });
  const fail = () => {
    if (worker !== w) return;
    worker = undefined;
    clearTimeout(idle);
    for (const done of waiting.values()) done(undefined);
    waiting.clear();
  };
  w.on("error", fail);
  w.on("exit", fail);
  worker = w;
  return w;
}

/** Nothing asked of it: the process may end without it, and it ends after IDLE_EXIT_MS. */
function rest(w: Worker): void {
  w.unref();
  clearTimeout(idle);
  idle = setTimeout(() => {
    if (worker === w && waiting.size === 0) {
      worker = undefined;
      void w.terminate();
    }
  }, IDLE_EXIT_MS);
  idle.unref();
}

/** Boots the compile thread if it is not running, so that a large upload about to arrive does not wait for it. */
export function prestartCompileThread(): void {
  if (!worker) rest(thread());
}

/**
 * StreamingCompile on the compile thread (compile-worker.ts): the thread that receives the module's bytes only
 * says how far they arrived, and V8 validates them on the other (on the receiving thread, a 30 MB upload took
 * ~95 ms to arrive instead of ~60, its validation between the chunks). The bytes must be in shared memory.
 * Same contract as StreamingCompile. Its window for V8's lazy flag is on this other thread; the holders of the flag
 * are counted across both threads (compile.ts), so neither turns it off under the other's lazy compile. A module
 * the main thread compiles eagerly in that window (microseconds) would be compiled lazily: slower on its first
 * calls, not wrong.
 */
export class ThreadedStreamingCompile {
  readonly result: Promise<CappedModule | undefined>;
  private readonly id = nextId++;
  private readonly worker: Worker;
  private started = false;
  private told = 0;
  private over = false;

  constructor(readonly maxMemoryPages: number) {
    this.worker = thread();
    clearTimeout(idle);
    this.worker.ref();
    this.result = new Promise<WebAssembly.Module | undefined>((resolve) =>
      waiting.set(this.id, resolve),
    ).then((module) => (module ? { module, maxMemoryPages } : undefined));
  }

  advance(bytes: Uint8Array, end: number): void {
    if (this.over) return;
    if (!this.started) {
      if (!(bytes.buffer instanceof SharedArrayBuffer)) {
        this.abandon();
        return;
      }
      this.started = true;
      this.post({ id: this.id, kind: "start", bytes, maxMemoryPages: this.maxMemoryPages });
    }
    if (end - this.told < ADVANCE_STEP_BYTES) return;
    this.told = end;
    this.post({ id: this.id, kind: "advance", end });
  }

  finish(bytes: Uint8Array, length: number): void {
    this.advance(bytes, 0);
    if (this.over) return;
    this.over = true;
    this.post({ id: this.id, kind: "finish", length });
  }

  abandon(): void {
    if (this.over) return;
    this.over = true;
    if (this.started) this.post({ id: this.id, kind: "abandon" });
    else {
      const done = waiting.get(this.id);
      waiting.delete(this.id);
      done?.(undefined);
      if (waiting.size === 0) rest(this.worker);
    }
  }

  private post(m: CompileRequest): void {
    this.worker.postMessage(m);
  }
}
