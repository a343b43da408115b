import { FILETYPE_CHARACTER_DEVICE, FILETYPE_REGULAR_FILE, SIZE_FILESTAT } from "./constants.js";
import type { WasiContext } from "./context.js";
import type { NodeTime } from "./fs-image.js";
import type { AnyNode } from "./overlay-fs.js";

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

/** A node time as ns: exact when set by set_times (bigint), else from ms. */
export function timeNs(t: NodeTime): bigint {
  return typeof t === "bigint" ? t : BigInt(Math.trunc(t)) * NS_PER_MS;
}

/** Writes a filestat (64 bytes: dev, ino, filetype, nlink, size, atim, mtim, ctim). */
export function writeFilestat(
  ctx: WasiContext,
  ptr: number,
  filetype: number,
  ino: number,
  size: number,
  atim: NodeTime,
  mtim: NodeTime,
  nlink = 1,
): void {
  if (!inBounds(ctx, ptr, SIZE_FILESTAT)) throw new RangeError("filestat out of bounds");
  const dv = ctx.dv;
  ctx.u8.fill(0, ptr, ptr + SIZE_FILESTAT);
  const m = timeNs(mtim);
  dv.setBigUint64(ptr, filetype === FILETYPE_CHARACTER_DEVICE ? 0n : 1n, true);
  dv.setBigUint64(ptr + 8, BigInt(ino), true);
  dv.setUint8(ptr + 16, filetype);
  dv.setBigUint64(ptr + 24, BigInt(nlink), true);
  dv.setBigUint64(ptr + 32, BigInt(size), true);
  dv.setBigUint64(ptr + 40, timeNs(atim), true);
  dv.setBigUint64(ptr + 48, m, true);
  dv.setBigUint64(ptr + 56, m, true);
}

/** Writes the filestat of a filesystem node. */
export function writeNodeStat(ctx: WasiContext, ptr: number, node: AnyNode): void {
  const nlink = node.kind === FILETYPE_REGULAR_FILE ? node.nlink : 1;
  writeFilestat(ctx, ptr, node.kind, node.ino, node.size, node.atim, node.mtim, nlink);
}
