import { partHead } from "../http/index.js";
import { type Arrival, LARGE_LAYER_MIN_BYTES } from "../registry/index.js";
import {
  type CappedModule,
  LAZY_COMPILE_MIN_BYTES,
  type ModuleCompile,
  StreamingCompile,
  ThreadCompile,
} from "../wasm/index.js";
import { discardEarlyImage, type EarlyImage, sameView } from "./source.js";

/** Makes the image of a module still arriving (source.ts earlyImage), or says it cannot be made so. */
export type StartImage = (fields: unknown, module: Uint8Array, arrival: Arrival) => EarlyImage | undefined;

/** Headers of a part longer than this are not followed (a form's are ~100 bytes); the body is parsed after. */
const MAX_PART_HEAD_BYTES = 16 * 1024;

/**
 * Follows a function's multipart body as it arrives (readSharedBodyFinding's onData) and, when its `code` part
 * comes after its `function` part (as the CLI and forms send them), compiles the module as its bytes arrive
 * (wasm/ThreadCompile: V8 validates each chunk's functions as it is pushed, on the compile thread, while this thread
 * reads the next ones), capped at the memory the `function` part asks for, and
 * starts its image (`startImage`, when the module is the last part). The create of a large module then has both
 * about when its upload ends, not 0.1-0.2 s after. Anything unexpected (another order, a malformed part, a small
 * module, a cap or a length the request does not end up with) leaves the work to after the upload, as before:
 * `result` and `imageOf` are then undefined. Never throws.
 */
export class EarlyCompile {
  /** Where the next part's headers start, once the opening delimiter is there. */
  private head = -1;
  /** The part being received: its name and where its content starts. */
  private open: { name: string; start: number } | undefined;
  /** Index in `found` of the next delimiter not yet used. */
  private next = 0;
  private fields: unknown;
  private compile: ModuleCompile | undefined;
  private code: { start: number; end: number } | undefined;
  private off = false;
  private readonly opening: Buffer;
  /** How much of the body arrived, for the layer made as it does (registry Arrival); set once an image is started. */
  private arrival: Arrival | undefined;
  private image: EarlyImage | undefined;
  /** Whether an image was tried (once). */
  private imageTried = false;
  /** Bytes after the last part: CRLF "--" boundary "--" CRLF, as curl, undici's FormData and the CLI end a body. */
  private readonly closing: number;

  /**
   * @param delimiter the body's delimiter (multipartDelimiter), as readSharedBodyFinding finds it
   * @param declared the body's Content-Length
   * @param pagesFor the memory cap (64 KiB pages) of the function the `function` part describes
   * @param startImage makes the image while the module arrives, when the module is the body's last part (its
   *   length is then the Content-Length's rest) and large
   */
  constructor(
    boundary: string,
    private readonly delimiter: Uint8Array,
    private readonly declared: number,
    private readonly pagesFor: (fields: unknown) => number,
    private readonly startImage?: StartImage,
  ) {
    this.opening = Buffer.from(`--${boundary}`);
    this.closing = this.delimiter.length + 4;
  }

  /** readSharedBodyFinding's onData. */
  readonly onData = (body: Uint8Array, size: number, found: readonly number[]): void => {
    if (this.off) return;
    try {
      this.follow(body, size, found);
    } catch {
      this.stop();
    }
    if (this.arrival) {
      Atomics.store(this.arrival.counter, 0, body.byteOffset + size);
      Atomics.notify(this.arrival.counter, 0);
    }
  };

  /**
   * The image made as the module arrived, if it was and `module` (the `code` part parseMultipart found) is the
   * module it was made of; else undefined (and the image is dropped).
   */
  imageOf(module: Uint8Array | undefined): EarlyImage | undefined {
    const image = this.image;
    this.image = undefined;
    if (!image) return undefined;
    if (module && !this.off && sameView(image.module, module)) return image;
    discardEarlyImage(image);
    return undefined;
  }

  /**
   * The compile of `module`, the `code` part parseMultipart found in the whole body, if it is what was compiled;
   * else undefined (and any compile is dropped).
   */
  result(body: Uint8Array, module: Uint8Array | undefined): Promise<CappedModule | undefined> | undefined {
    const { code, compile } = this;
    if (
      this.off ||
      !compile ||
      !code ||
      !module ||
      !sameView(module, body.subarray(code.start, code.end)) ||
      module.byteLength < LAZY_COMPILE_MIN_BYTES
    ) {
      this.stop();
      return undefined;
    }
    return compile.result;
  }

  /**
   * Drops what was started, the compile and the image (the body failed, or its module is not to be used); a layer
   * still waiting for the module's bytes is told they will not come.
   */
  stop(): void {
    this.off = true;
    this.compile?.abandon();
    if (this.arrival) {
      Atomics.store(this.arrival.counter, 1, 1);
      Atomics.notify(this.arrival.counter, 0);
    }
    if (this.image) discardEarlyImage(this.image);
    this.image = undefined;
  }

  private follow(body: Uint8Array, size: number, found: readonly number[]): void {
    const buf = Buffer.from(body.buffer, body.byteOffset, size);
    for (;;) {
      if (this.head < 0) {
        // The opening delimiter may come without the CRLF before it.
        if (size < this.opening.length) return;
        if (buf.subarray(0, this.opening.length).equals(this.opening)) this.head = this.opening.length;
        else if (found.length > 0) {
          this.head = found[0] + this.delimiter.length;
          this.next = 1;
        } else return;
      }
      const open = this.open;
      if (open) {
        while (this.next < found.length && found[this.next] < open.start) this.next++;
        if (this.next >= found.length) {
          // Bytes from here on may begin a delimiter not all there yet.
          if (open.name === "code") {
            this.codeSoFar(body, open.start, size - this.delimiter.length + 1);
            this.tryImage(body, open.start, size);
          }
          return;
        }
        const end = found[this.next++];
        this.open = undefined;
        this.head = end + this.delimiter.length;
        this.ended(body, open, end);
        if (this.off) return;
        continue;
      }
      if (size < this.head + 2) return;
      if (buf.indexOf("\r\n\r\n", this.head) < 0) {
        if (size - this.head > MAX_PART_HEAD_BYTES) this.stop();
        return;
      }
      const part = partHead(buf, this.head);
      if (!part) return;
      this.open = { name: part.name, start: part.contentStart };
      if (part.name === "code") {
        if (this.fields === undefined || this.compile) {
          this.stop();
          return;
        }
        // On the compile thread when the module arrives in shared memory and is large (as a large upload
        // does); else on this thread.
        const pages = this.pagesFor(this.fields);
        this.compile =
          body.buffer instanceof SharedArrayBuffer &&
          this.declared - part.contentStart >= LAZY_COMPILE_MIN_BYTES
            ? new ThreadCompile(body.subarray(part.contentStart), pages)
            : new StreamingCompile(pages);
      }
    }
  }

  /** Starts the image once the module's first bytes are there (its magic is checked at once), if it can be. */
  private tryImage(body: Uint8Array, start: number, size: number): void {
    if (this.imageTried || !this.startImage || size - start < 8) return;
    this.imageTried = true;
    const length = this.declared - this.closing - start;
    if (length < LARGE_LAYER_MIN_BYTES || !(body.buffer instanceof SharedArrayBuffer)) return;
    const arrival: Arrival = { buffer: body.buffer, counter: new Int32Array(new SharedArrayBuffer(8)) };
    Atomics.store(arrival.counter, 0, body.byteOffset + size);
    this.arrival = arrival;
    this.image = this.startImage(this.fields, body.subarray(start, start + length), arrival);
  }

  private codeSoFar(body: Uint8Array, start: number, end: number): void {
    if (end > start) this.compile?.advance(body.subarray(start), end - start);
  }

  private ended(body: Uint8Array, part: { name: string; start: number }, end: number): void {
    if (part.name === "function") {
      const text = Buffer.from(body.buffer, body.byteOffset + part.start, end - part.start).toString("utf8");
      this.fields = JSON.parse(text);
    } else if (part.name === "code") {
      this.code = { start: part.start, end };
      this.compile?.finish(body.subarray(part.start), end - part.start);
    }
  }
}
