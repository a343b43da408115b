import { randomBytes } from "node:crypto";
import { type CappedModule, lazyOff, lazyOn } from "./compile.js";
import { cappedMemorySection } from "./component.js";
import { SECTION } from "./module.js";

/** A core module's first 8 bytes: `\0asm`, version 1 (a component's version differs). */
const CORE_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/**
 * A custom section unlike any other module's, put after the preamble: V8 keeps modules by the hash of what comes
 * before their code section, and a streaming compile whose prefix matches a module it has compiles nothing as the
 * bytes arrive — it waits for the end, then compiles in a task of its own, which reads the lazy flag outside the
 * window (measured here: a second 30 MB module that differed from a deployed one only after its code section was
 * compiled eagerly, 693 ms). Custom sections do not change what a module does.
 */
function uniqueSection(): Uint8Array {
  const name = new TextEncoder().encode("wasmlet.stream");
  const nonce = randomBytes(16);
  return Uint8Array.from([SECTION.custom, 1 + name.length + nonce.length, name.length, ...name, ...nonce]);
}

/** An unsigned LEB128 (at most 5 bytes) at `pos` of `bytes[0, end)`: [value, next position]; undefined while not all there. */
function leb(bytes: Uint8Array, pos: number, end: number): [number, number] | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (pos + i >= end) return undefined;
    const b = bytes[pos + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [value, pos + i + 1];
  }
  throw new Error("a section size of more than 5 bytes");
}

/** A compile fed a module's bytes as they arrive (StreamingCompile here, ThreadCompile on the compile thread). */
export interface ModuleCompile {
  /** The module, capped; undefined when the bytes are not a core module V8 takes, or the compile was abandoned. */
  readonly result: Promise<CappedModule | undefined>;
  /** More of the module arrived: `bytes` starts at its first byte and [0, end) are there and will not change. */
  advance(bytes: Uint8Array, end: number): void;
  /** The module is `bytes[0, length)`, all of it. */
  finish(bytes: Uint8Array, length: number): void;
  /** Not to be used: the compile stops and `result` is undefined. */
  abandon(): void;
}

/**
 * A large core module compiled by V8 as its bytes arrive (`WebAssembly.compileStreaming`), lazily and with its
 * memories capped at `maxMemoryPages` — the module compileCapped makes from the whole of them, so the runtime can
 * take either —, without copying the module first: the memory section is rewritten on the way, the rest is handed
 * on as views of the caller's bytes. A 30 MB upload is then checked during its transfer instead of after it (the
 * capped copy and the lazy compile took 105-125 ms of the create's path here, while the layer was hashed and written).
 *
 * V8 reads its lazy-compilation flag (process-wide) when it reads the code section's header, and again for each
 * function body it reads: a body read with the flag on is queued for validation (a job on V8's worker threads,
 * joined when the stream ends), one read with it off is neither validated nor compiled until its first call — a
 * module with an invalid function then compiled, and failed only when a run reached that function. So every chunk
 * of the code section, and only those, is pushed with the flag on: from the handing over of the chunk to the next
 * pull (V8 reads it in the push, which runs in the same microtask checkpoint as our handing it over: Node's
 * `WebAssembly.compileStreaming` reads a Response body and pushes each chunk as it gets it), and never past the
 * next turn of the event loop. Measured here, a 30 MB module all there, compiled on one thread: 185-235 ms of CPU
 * and 124-158 ms of wall time, against 130-180 and 132-173 with the flag on for the header alone (which validated
 * nothing): the validation runs on V8's workers. With the flag off at the code section V8 compiled the module
 * eagerly, ~1.5 s of CPU. While a chunk is pushed, another thread's compile is lazy too; every module a server runs
 * was validated when its version was made, so that costs such a compile its eagerness, not its check.
 *
 * `result` is undefined when the bytes are not a core module or do not compile: the caller then checks them the
 * usual way, which says why.
 */
export class StreamingCompile implements ModuleCompile {
  readonly result: Promise<CappedModule | undefined>;
  /** The module's bytes as last given. */
  private bytes: Uint8Array = new Uint8Array(0);
  /** Where the next section header starts. */
  private scan = CORE_PREAMBLE.length;
  /** Bytes of the module handed on (positions in `bytes`). */
  private emitted = 0;
  /** Where the code section starts and ends, once its id and size are all there. */
  private codeAt = -1;
  private codeEnd = -1;
  /** Memory sections read whole and rewritten, not yet handed on: each replaces [at, end). */
  private readonly rewritten: { at: number; end: number; bytes: Uint8Array }[] = [];
  /** Chunks for V8's next pulls; `from`/`to` are the positions a view of `bytes` covers (one to extend), -1 for other bytes. */
  private readonly queue: { from: number; to: number; bytes: Uint8Array; lazy: boolean }[] = [];
  private ended: "finished" | "abandoned" | undefined;
  private wake: (() => void) | undefined;
  private lazyWindow = false;
  /** A code chunk's window closed before V8 came back for the next chunk: it may have read bodies with the flag off. */
  private unchecked = false;
  /** The module's length, once finished. */
  private length = 0;

  constructor(readonly maxMemoryPages: number) {
    const body = new ReadableStream<Uint8Array>(
      { pull: (ctl) => this.pull(ctl), cancel: () => this.closeWindow() },
      { highWaterMark: 0 },
    );
    this.result = WebAssembly.compileStreaming(
      new Response(body, { headers: { "content-type": "application/wasm" } }),
    ).then(
      (module) => (this.unchecked && !this.validates() ? undefined : { module, maxMemoryPages }),
      () => undefined,
    );
    this.result.finally(() => this.closeWindow());
  }

  /** More of the module arrived: `bytes` starts at its first byte and [0, end) are there and will not change. */
  advance(bytes: Uint8Array, end: number): void {
    if (this.ended) return;
    this.bytes = bytes;
    try {
      this.emit(this.safeEnd(end));
    } catch {
      this.abandon();
      return;
    }
    this.wake?.();
  }

  /** The module is `bytes[0, length)`, all of it. */
  finish(bytes: Uint8Array, length: number): void {
    this.advance(bytes, length);
    if (this.ended) return;
    // What is left is cut short (a section's header or a memory section): V8 says so.
    this.emit(length, true);
    this.ended = "finished";
    this.length = length;
    this.wake?.();
  }

  /** Not to be used: the compile stops and `result` is undefined. */
  abandon(): void {
    if (this.ended) return;
    this.ended = "abandoned";
    this.queue.length = 0;
    this.wake?.();
  }

  /**
   * How far the module may be handed on: up to the first section header not all there (the code section's size
   * tells where its chunks, pushed with the lazy flag on, end) or a memory section not all there (it is rewritten
   * whole), of the `end` bytes there. Throws when the bytes are not a core module.
   */
  private safeEnd(end: number): number {
    const { bytes } = this;
    if (this.emitted === 0) {
      if (end < CORE_PREAMBLE.length) return 0;
      if (CORE_PREAMBLE.some((b, i) => bytes[i] !== b)) throw new Error("not a core module");
    }
    while (this.scan < end) {
      const at = this.scan;
      const id = bytes[at];
      const size = leb(bytes, at + 1, end);
      if (!size) return at;
      const [length, start] = size;
      if (id === SECTION.memory) {
        if (start + length > end) return at;
        this.rewritten.push({
          at,
          end: start + length,
          bytes: cappedMemorySection(bytes, start, length, this.maxMemoryPages),
        });
      } else if (id === SECTION.code && this.codeAt < 0) {
        this.codeAt = at;
        this.codeEnd = start + length;
      }
      this.scan = start + length;
    }
    return end;
  }

  /** Queues the module up to `to`, rewritten sections in place of theirs (all of it as it is when `raw`). */
  private emit(to: number, raw = false): void {
    if (this.emitted === 0 && to >= CORE_PREAMBLE.length) {
      this.queue.push({ from: -1, to: -1, bytes: this.bytes.subarray(0, CORE_PREAMBLE.length), lazy: false });
      this.queue.push({ from: -1, to: -1, bytes: uniqueSection(), lazy: false });
      this.emitted = CORE_PREAMBLE.length;
    }
    while (this.emitted < to) {
      const next = raw ? undefined : this.rewritten[0];
      if (next && next.at === this.emitted) {
        this.rewritten.shift();
        this.queue.push({ from: -1, to: -1, bytes: next.bytes, lazy: false });
        this.emitted = next.end;
        continue;
      }
      const from = this.emitted;
      let stop = next && next.at < to ? next.at : to;
      // The code section goes in chunks of its own, pushed with the lazy flag on (see the class).
      const lazy = this.codeAt >= 0 && from >= this.codeAt && from < this.codeEnd;
      if (lazy) stop = Math.min(stop, this.codeEnd);
      else if (this.codeAt > from && this.codeAt < stop) stop = this.codeAt;
      const last = this.queue[this.queue.length - 1];
      // Adjacent views become one chunk: fewer pushes into V8.
      if (last && last.to === from && last.lazy === lazy)
        this.queue[this.queue.length - 1] = {
          from: last.from,
          to: stop,
          bytes: this.bytes.subarray(last.from, stop),
          lazy,
        };
      else this.queue.push({ from, to: stop, bytes: this.bytes.subarray(from, stop), lazy });
      this.emitted = stop;
    }
  }

  private pull(ctl: ReadableStreamDefaultController<Uint8Array>): Promise<void> | undefined {
    this.closeWindow();
    if (this.ended === "abandoned") {
      ctl.error(new Error("abandoned"));
      return undefined;
    }
    const next = this.queue.shift();
    if (next) {
      if (next.lazy) this.openWindow();
      ctl.enqueue(next.bytes);
      return undefined;
    }
    if (this.ended === "finished") {
      ctl.close();
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve(this.pull(ctl));
      };
    });
  }

  private openWindow(): void {
    if (this.lazyWindow) return;
    this.lazyWindow = true;
    lazyOn();
    setImmediate(() => {
      if (!this.lazyWindow) return;
      this.unchecked = true;
      this.closeWindow();
    });
  }

  /**
   * Whether the module validates, all of it, as V8 checks it (WebAssembly.validate reads no lazy flag): for a
   * compile that may have skipped bodies. Not what Node's compileStreaming does (it pushes each chunk as it gets
   * it, then asks for the next one), so a fallback: ~50-90 ms for 30 MB here.
   */
  private validates(): boolean {
    return WebAssembly.validate(this.bytes.subarray(0, this.length) as BufferSource);
  }

  private closeWindow(): void {
    if (!this.lazyWindow) return;
    this.lazyWindow = false;
    lazyOff();
  }
}

/**
 * Loads what `WebAssembly.compileStreaming` needs (Node's fetch implementation, for its Response: its first call
 * took ~58 ms of the thread here) by compiling the empty module once, so that the first large upload does not.
 */
export async function warmStreamingCompile(): Promise<void> {
  const c = new StreamingCompile(0);
  const empty = Uint8Array.from(CORE_PREAMBLE);
  c.finish(empty, empty.length);
  await c.result;
}
