/**
 * fd_read, fd_write, fd_pread, fd_pwrite, fd_seek, fd_tell: the calls every request makes (stdin, stdout),
 * so they do no allocation beyond the subarray views the copies need.
 * Pointers and lengths arrive as signed i32 and are made unsigned with `>>> 0`.
 */
import { ERRNO, FDFLAGS_APPEND, SIZE_IOVEC, WHENCE_CUR, WHENCE_END, WHENCE_SET } from "./constants.js";
import type { WasiContext } from "./context.js";
import { FD_DIR, FD_FILE, FD_STDERR, FD_STDIN, FD_STDOUT, type FdEntry } from "./fd-table.js";
import { inBounds, toOffset } from "./memory.js";

export function fdRead(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  nreadPtr: number,
): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  ctx.view();
  const n = readAt(ctx, entry, iovs >>> 0, iovsLen >>> 0, entry.pos);
  if (n < 0) return -n;
  entry.pos += n;
  ctx.dv.setUint32(nreadPtr >>> 0, n, true);
  return ERRNO.SUCCESS;
}

export function fdPread(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  offset: bigint,
  nreadPtr: number,
): number {
  return atOffset(ctx, fd, iovs, iovsLen, offset, nreadPtr, readAt);
}

/** Bytes read into the iovecs from `pos`, or a negated errno. */
function readAt(ctx: WasiContext, entry: FdEntry, iovs: number, iovsLen: number, pos: number): number {
  let src: Uint8Array;
  let size: number;
  if (entry.type === FD_FILE) {
    if (!entry.readable) return -ERRNO.BADF;
    src = entry.node!.data;
    size = entry.node!.size;
  } else if (entry.type === FD_STDIN) {
    src = ctx.stdin;
    size = src.length;
  } else {
    return entry.type === FD_DIR ? -ERRNO.ISDIR : -ERRNO.BADF;
  }
  if (!inBounds(ctx, iovs, iovsLen * SIZE_IOVEC)) return -ERRNO.FAULT;
  const { dv, u8 } = ctx;
  let total = 0;
  for (let i = 0; i < iovsLen && pos < size; i++) {
    const ptr = iovBuf(dv, iovs, i);
    const len = iovLen(dv, iovs, i);
    if (!inBounds(ctx, ptr, len)) return -ERRNO.FAULT;
    const n = Math.min(len, size - pos);
    u8.set(src.subarray(pos, pos + n), ptr);
    pos += n;
    total += n;
  }
  return total;
}

export function fdWrite(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  nwrittenPtr: number,
): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  ctx.view();
  let pos = entry.pos;
  if (entry.type === FD_FILE && (entry.flags & FDFLAGS_APPEND) !== 0) pos = entry.node!.size;
  const n = writeAt(ctx, entry, iovs >>> 0, iovsLen >>> 0, pos);
  if (n < 0) return -n;
  if (entry.type === FD_FILE) entry.pos = pos + n;
  ctx.dv.setUint32(nwrittenPtr >>> 0, n, true);
  return ERRNO.SUCCESS;
}

export function fdPwrite(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  offset: bigint,
  nwrittenPtr: number,
): number {
  return atOffset(ctx, fd, iovs, iovsLen, offset, nwrittenPtr, writeAt);
}

/** readAt or writeAt: bytes moved through the iovecs at `pos`, or a negated errno. */
type IovecIo = (ctx: WasiContext, entry: FdEntry, iovs: number, iovsLen: number, pos: number) => number;

/**
 * fd_pread / fd_pwrite: `io` at an explicit offset of a regular file, leaving the fd position alone; the count
 * goes to `countPtr`. Pipes (stdio) give ESPIPE, directories EISDIR, an offset beyond a safe integer EINVAL.
 */
function atOffset(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  offset: bigint,
  countPtr: number,
  io: IovecIo,
): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  if (entry.type !== FD_FILE) return entry.type === FD_DIR ? ERRNO.ISDIR : ERRNO.SPIPE;
  const pos = toOffset(offset);
  if (pos < 0) return ERRNO.INVAL;
  ctx.view();
  const n = io(ctx, entry, iovs >>> 0, iovsLen >>> 0, pos);
  if (n < 0) return -n;
  ctx.dv.setUint32(countPtr >>> 0, n, true);
  return ERRNO.SUCCESS;
}

/** Buffer address of iovec `i` in the array at `iovs` (the array's bounds already checked). */
function iovBuf(dv: DataView, iovs: number, i: number): number {
  return dv.getUint32(iovs + i * SIZE_IOVEC, true);
}

/** Buffer length of iovec `i` in the array at `iovs` (the array's bounds already checked). */
function iovLen(dv: DataView, iovs: number, i: number): number {
  return dv.getUint32(iovs + i * SIZE_IOVEC + 4, true);
}

/**
 * Bytes written from the iovecs, or a negated errno. Stdout refuses a whole iovec that would pass its cap
 * (EFBIG, and `stdoutOverflowed` is set) rather than truncating the response silently; stderr keeps its
 * tail and never fails. A later iovec that fails after earlier ones succeeded yields a short count.
 */
function writeAt(ctx: WasiContext, entry: FdEntry, iovs: number, iovsLen: number, pos: number): number {
  if (!inBounds(ctx, iovs, iovsLen * SIZE_IOVEC)) return -ERRNO.FAULT;
  const type = entry.type;
  if (type === FD_DIR) return -ERRNO.ISDIR;
  if (type === FD_STDIN || (type === FD_FILE && !entry.writable)) return -ERRNO.BADF;
  const { dv, u8 } = ctx;
  let total = 0;
  for (let i = 0; i < iovsLen; i++) {
    const ptr = iovBuf(dv, iovs, i);
    const len = iovLen(dv, iovs, i);
    if (!inBounds(ctx, ptr, len)) return -ERRNO.FAULT;
    if (len === 0) continue;
    let err: number = ERRNO.SUCCESS;
    if (type === FD_STDOUT) {
      if (!ctx.stdout.append(u8, ptr, len)) {
        ctx.stdoutOverflowed = true;
        err = ERRNO.FBIG;
      }
    } else if (type === FD_STDERR) {
      ctx.stderr.append(u8, ptr, len);
    } else {
      err = ctx.fs.write(entry.node!, pos + total, u8, ptr, len);
    }
    if (err !== ERRNO.SUCCESS) return total > 0 ? total : -err;
    total += len;
  }
  return total;
}

export function fdSeek(
  ctx: WasiContext,
  fd: number,
  offset: bigint,
  whence: number,
  newOffsetPtr: number,
): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  if (entry.type !== FD_FILE) return entry.type === FD_DIR ? ERRNO.BADF : ERRNO.SPIPE;
  let base: number;
  if (whence === WHENCE_SET) base = 0;
  else if (whence === WHENCE_CUR) base = entry.pos;
  else if (whence === WHENCE_END) base = entry.node!.size;
  else return ERRNO.INVAL;
  const pos = base + Number(offset);
  if (pos < 0 || !Number.isSafeInteger(pos)) return ERRNO.INVAL;
  ctx.view();
  ctx.dv.setBigUint64(newOffsetPtr >>> 0, BigInt(pos), true);
  entry.pos = pos;
  return ERRNO.SUCCESS;
}

export function fdTell(ctx: WasiContext, fd: number, offsetPtr: number): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  if (entry.type !== FD_FILE) return entry.type === FD_DIR ? ERRNO.BADF : ERRNO.SPIPE;
  ctx.view();
  ctx.dv.setBigUint64(offsetPtr >>> 0, BigInt(entry.pos), true);
  return ERRNO.SUCCESS;
}
