import { WasmletError } from "../core/index.js";

/**
 * Cursor over a wasm binary. Hand-written instead of a library because it sits on the prepare path of
 * every module (instrumentation must stay in the low milliseconds); all offsets are absolute.
 */
export class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos = 0,
    readonly end = bytes.length,
  ) {}

  u8(): number {
    if (this.pos >= this.end) throw truncated(this.pos);
    return this.bytes[this.pos++];
  }

  /** An unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.u8();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
    }
    const last = this.u8();
    if (last & 0xf0) throw invalid(`LEB128 integer too long at byte offset ${this.pos - 1}`);
    return (result | (last << 28)) >>> 0;
  }

  /** An unsigned LEB128 of up to 64 bits (memory64 limits), exact up to 2^53. */
  u64(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw invalid(`LEB128 integer too long at byte offset ${this.pos}`);
  }

  /** Skips one LEB128 of any width and signedness. */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.u8() & 0x80) === 0) return;
    throw invalid(`LEB128 integer too long at byte offset ${this.pos}`);
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw truncated(this.end);
    this.pos += n;
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return UTF8.decode(this.bytes.subarray(start, start + len));
  }

  /** Skips a length-prefixed name without decoding it. */
  skipName(): void {
    this.skip(this.u32());
  }

  /** A value type, returning its first byte; reference types with a heap type (0x63/0x64) take a second immediate. */
  valType(): number {
    const b = this.u8();
    if (b === 0x63 || b === 0x64) this.skipLeb();
    return b;
  }

  /** A block type: empty (0x40), a value type, or a type index as a signed 33-bit LEB. */
  blockType(): void {
    const b = this.u8();
    if (b === 0x63 || b === 0x64) this.skipLeb();
    else if (b & 0x80) this.skipLeb();
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: false });

/** Growable output buffer with length-prefixed regions whose size is patched in when they end. */
export class Writer {
  buf: Uint8Array;
  len = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    this.ensure(n);
    // Most copies are a few bytes between two patches: a loop beats allocating a subarray for them.
    if (n < 32) {
      const buf = this.buf;
      let at = this.len;
      for (let i = start; i < end; i++) buf[at++] = src[i];
    } else this.buf.set(src.subarray(start, end), this.len);
    this.len += n;
  }

  /** Unsigned LEB128, padded with continuation bytes to at least `width` bytes (keeps padded immediates padded). */
  u32(value: number, width = 1): void {
    this.ensure(10);
    let v = value >>> 0;
    let n = 0;
    for (;;) {
      const b = v & 0x7f;
      v >>>= 7;
      n++;
      if (v === 0 && n >= width) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  /** Signed LEB128 of a 32-bit integer (i32.const immediates). */
  s32(value: number): void {
    this.ensure(5);
    let v = value | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  /** Unsigned LEB128 of a value up to 2^53 (memory64 limits). */
  u64(value: number): void {
    this.ensure(10);
    let v = value;
    for (;;) {
      const b = v % 128;
      v = Math.floor(v / 128);
      if (v === 0) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  name(s: string): void {
    const encoded = new TextEncoder().encode(s);
    this.u32(encoded.length);
    this.bytes(encoded);
  }

  /** Starts a region prefixed by its byte length; returns the mark to pass to `endSized`. */
  beginSized(): number {
    this.ensure(5);
    const mark = this.len;
    this.len += 5;
    return mark;
  }

  /** Writes the region's length as a minimal LEB128 and moves the region down over the unused bytes. */
  endSized(mark: number): void {
    const size = this.len - mark - 5;
    let v = size;
    let at = mark;
    do {
      const b = v & 0x7f;
      v >>>= 7;
      this.buf[at++] = v === 0 ? b : b | 0x80;
    } while (v !== 0);
    if (at < mark + 5) {
      this.buf.copyWithin(at, mark + 5, this.len);
      this.len -= mark + 5 - at;
    }
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Number of bytes of the LEB128 that starts at `pos`. */
export function lebLength(bytes: Uint8Array, pos: number): number {
  let n = 1;
  while (bytes[pos + n - 1] & 0x80) n++;
  return n;
}

export function invalid(message: string): WasmletError {
  return new WasmletError("INVALID_MODULE", message);
}

function truncated(pos: number): WasmletError {
  return invalid(`unexpected end of module at byte offset ${pos}`);
}
