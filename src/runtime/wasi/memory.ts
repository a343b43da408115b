import { FILETYPE_CHARACTER_DEVICE, SIZE_FILESTAT } from "./constants.js";
import type { WasiContext } from "./context.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** True when [ptr, ptr+len) lies inside linear memory. Call ctx.view() first. */
export function inBounds(ctx: WasiContext, ptr: number, len: number): boolean {
  return ptr + len <= ctx.u8.length;
}

/** A guest string (a path), or null when it is not valid UTF-8. Out of bounds throws (→ EFAULT). */
export function readString(ctx: WasiContext, ptr: number, len: number): string | null {
  if (!inBounds(ctx, ptr, len)) throw new RangeError("string out of bounds");
  try {
    return utf8.decode(ctx.u8.subarray(ptr, ptr + len));
  } catch {
    return null;
  }
}

/** A u64 file offset or size from the guest as a number, or -1 when it does not fit (or was negative). */
export function toOffset(value: bigint): number {
  return value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(value);
}

const NS_PER_MS = 1_000_000n;

/** Writes a filestat (64 bytes: dev, ino, filetype, nlink, size, atim, mtim, ctim). */
export function writeFilestat(
  ctx: WasiContext,
  ptr: number,
  filetype: number,
  ino: number,
  size: number,
  mtimMs: number,
): void {
  if (!inBounds(ctx, ptr, SIZE_FILESTAT)) throw new RangeError("filestat out of bounds");
  const dv = ctx.dv;
  ctx.u8.fill(0, ptr, ptr + SIZE_FILESTAT);
  const time = BigInt(Math.trunc(mtimMs)) * NS_PER_MS;
  dv.setBigUint64(ptr, filetype === FILETYPE_CHARACTER_DEVICE ? 0n : 1n, true);
  dv.setBigUint64(ptr + 8, BigInt(ino), true);
  dv.setUint8(ptr + 16, filetype);
  dv.setBigUint64(ptr + 24, 1n, true);
  dv.setBigUint64(ptr + 32, BigInt(size), true);
  dv.setBigUint64(ptr + 40, time, true);
  dv.setBigUint64(ptr + 48, time, true);
  dv.setBigUint64(ptr + 56, time, true);
}
