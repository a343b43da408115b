import { WasmletError } from "../../core/index.js";
import type { EncodedStrings } from "../types.js";

/**
 * Builds an environment straight in the form environ_get hands the guest: the fixed part (encoded once by the
 * caller, e.g. with the WASI host's encodeStrings) copied, the
 * per-request variables concatenated into two strings (one per encoding) and written with one call each.
 * Building ~20 `KEY=value` strings per request, joining and encoding them cost more than the guest's own run,
 * and a Buffer write per variable is no better (each one crosses into C++: ~35 calls, ~4 µs).
 * Values are UTF-8, or latin1 for text that node decoded from raw bytes that way (header values, the raw URL):
 * latin1 gives those bytes back unchanged, as CGI passes them.
 */
export class EnvWriter {
  private latin1 = "";
  private readonly latin1Starts: number[] = [];
  private utf8 = "";
  private readonly utf8Starts: number[] = [];

  constructor(private readonly fixed?: EncodedStrings) {}

  /** Appends `name` (ASCII, ending with "=") and `value`; throws INVALID_ARGUMENT when the value holds a NUL. */
  add(name: string, value: string, encoding: "utf8" | "latin1"): void {
    if (value.includes("\0"))
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `${name.slice(0, -1)} would contain a NUL character (%00?), which C strings cannot hold`,
      );
    if (encoding === "latin1") {
      this.latin1Starts.push(this.latin1.length);
      this.latin1 += `${name}${value}\0`;
    } else {
      this.utf8Starts.push(this.utf8.length);
      this.utf8 += `${name}${value}\0`;
    }
  }

  finish(): EncodedStrings {
    const fixedBytes = this.fixed?.bytes.byteLength ?? 0;
    const utf8Bytes = Buffer.byteLength(this.utf8, "utf8");
    const buf = Buffer.allocUnsafe(fixedBytes + this.latin1.length + utf8Bytes);
    const offsets = this.fixed ? this.fixed.offsets.slice() : [];
    if (this.fixed) buf.set(this.fixed.bytes, 0);
    let pos = fixedBytes;
    pos += buf.write(this.latin1, pos, "latin1");
    for (const s of this.latin1Starts) offsets.push(fixedBytes + s);
    const utf8At = pos;
    buf.write(this.utf8, utf8At, "utf8");
    if (utf8Bytes === this.utf8.length) for (const s of this.utf8Starts) offsets.push(utf8At + s);
    else {
      // Not all ASCII: a string's start is the UTF-8 length of what precedes it.
      for (const s of this.utf8Starts)
        offsets.push(utf8At + Buffer.byteLength(this.utf8.slice(0, s), "utf8"));
    }
    return { bytes: buf, offsets };
  }
}

/** The strings of an encoded environment, for tests and diagnostics (UTF-8 decoded). */
export function decodeEnv(env: string[] | EncodedStrings): string[] {
  if (Array.isArray(env)) return env;
  return env.offsets.map((start) => {
    const end = env.bytes.indexOf(0, start);
    return Buffer.from(env.bytes.buffer, env.bytes.byteOffset + start, end - start).toString("utf8");
  });
}
