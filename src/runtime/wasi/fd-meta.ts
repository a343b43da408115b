/** fd_* calls other than reads and writes: stat, flags, preopens, readdir, close, renumber and no-ops. */
import {
  ADVICE_MAX,
  ERRNO,
  FDFLAGS_ALL,
  FILETYPE_DIRECTORY,
  FSTFLAGS_ATIM,
  FSTFLAGS_ATIM_NOW,
  FSTFLAGS_MTIM,
  FSTFLAGS_MTIM_NOW,
  SIZE_DIRENT,
  SIZE_FDSTAT,
} from "./constants.js";
import type { WasiContext } from "./context.js";
import { FD_DIR, FD_FILE, type FdEntry } from "./fd-table.js";
import { joinPath, type NodeTime, parentOf } from "./fs-image.js";
import { inBounds, toOffset, writeFilestat, writeNodeStat } from "./memory.js";
import type { FileNode } from "./overlay-fs.js";

const utf8 = new TextEncoder();

export function fdClose(ctx: WasiContext, fd: number): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  if (entry.node !== null) ctx.fs.closed(entry.node);
  ctx.fds.remove(fd);
  return ERRNO.SUCCESS;
}

export function fdRenumber(ctx: WasiContext, from: number, to: number): number {
  if (ctx.fds.get(from) === undefined || ctx.fds.get(to) === undefined) return ERRNO.BADF;
  if (from === to) return ERRNO.SUCCESS;
  fdClose(ctx, to);
  ctx.fds.move(from, to);
  return ERRNO.SUCCESS;
}

/** fd_sync, fd_datasync: nothing is ever on disk, so only the fd is checked. */
export function fdSync(ctx: WasiContext, fd: number): number {
  return ctx.fds.get(fd) === undefined ? ERRNO.BADF : ERRNO.SUCCESS;
}

export function fdAdvise(
  ctx: WasiContext,
  fd: number,
  _offset: bigint,
  _len: bigint,
  advice: number,
): number {
  if (ctx.fds.get(fd) === undefined) return ERRNO.BADF;
  return advice >>> 0 > ADVICE_MAX ? ERRNO.INVAL : ERRNO.SUCCESS;
}

/**
 * posix_fallocate as Linux answers it (and so wasmtime's wasi-common, which passed the call through): the two
 * u64s become off_t, so one >= 2^63 is negative, EINVAL, as is a zero len; an end past the largest file
 * (an off_t, here a safe integer) is EFBIG; past the overlay cap the resize gives ENOSPC.
 */
export function fdAllocate(ctx: WasiContext, fd: number, offset: bigint, len: bigint): number {
  const file = writableFile(ctx, fd);
  if (typeof file === "number") return file;
  // Wasm i64s arrive signed; asIntN also folds a u64 handed over unsigned (a direct call) onto the same value.
  offset = BigInt.asIntN(64, offset);
  len = BigInt.asIntN(64, len);
  if (offset < 0n || len <= 0n) return ERRNO.INVAL;
  const end = toOffset(offset + len);
  if (end < 0) return ERRNO.FBIG;
  return end > file.size ? ctx.fs.resize(file, end) : ERRNO.SUCCESS;
}

export function fdFilestatSetSize(ctx: WasiContext, fd: number, size: bigint): number {
  const file = writableFile(ctx, fd);
  if (typeof file === "number") return file;
  const n = toOffset(size);
  return n < 0 ? ERRNO.FBIG : ctx.fs.resize(file, n);
}

function writableFile(ctx: WasiContext, fd: number): FileNode | number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  if (entry.type !== FD_FILE) return entry.type === FD_DIR ? ERRNO.ISDIR : ERRNO.INVAL;
  return entry.writable ? entry.node! : ERRNO.BADF;
}

export function fdFdstatGet(ctx: WasiContext, fd: number, ptr: number): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  ctx.view();
  ptr >>>= 0;
  if (!inBounds(ctx, ptr, SIZE_FDSTAT)) return ERRNO.FAULT;
  const dv = ctx.dv;
  dv.setUint32(ptr, 0, true);
  dv.setUint32(ptr + 4, 0, true);
  dv.setUint8(ptr, entry.filetype);
  dv.setUint16(ptr + 2, entry.flags, true);
  dv.setBigUint64(ptr + 8, entry.rightsBase, true);
  dv.setBigUint64(ptr + 16, entry.rightsInheriting, true);
  return ERRNO.SUCCESS;
}

export function fdFdstatSetFlags(ctx: WasiContext, fd: number, flags: number): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  if ((flags & ~FDFLAGS_ALL) !== 0) return ERRNO.INVAL;
  entry.flags = flags;
  return ERRNO.SUCCESS;
}

/** Rights can only be dropped (spec: ENOTCAPABLE when asked to add one). */
export function fdFdstatSetRights(ctx: WasiContext, fd: number, base: bigint, inheriting: bigint): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  base = BigInt.asUintN(64, base);
  inheriting = BigInt.asUintN(64, inheriting);
  if ((base & ~entry.rightsBase) !== 0n || (inheriting & ~entry.rightsInheriting) !== 0n)
    return ERRNO.NOTCAPABLE;
  entry.rightsBase = base;
  entry.rightsInheriting = inheriting;
  return ERRNO.SUCCESS;
}

export function fdFilestatGet(ctx: WasiContext, fd: number, ptr: number): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  ctx.view();
  if (entry.node !== null) {
    writeNodeStat(ctx, ptr >>> 0, entry.node);
  } else if (entry.type === FD_DIR) {
    // A directory removed while open still stats as a directory (ino 0), as on POSIX.
    const dir = ctx.fs.lookup(entry.path);
    if (dir !== null) writeNodeStat(ctx, ptr >>> 0, dir);
    else writeFilestat(ctx, ptr >>> 0, FILETYPE_DIRECTORY, 0, 0, 0, 0);
  } else {
    writeFilestat(ctx, ptr >>> 0, entry.filetype, 0, 0, 0, 0);
  }
  return ERRNO.SUCCESS;
}

/** Sets the times of an open file or directory; stdio accepts and ignores them. */
export function fdFilestatSetTimes(
  ctx: WasiContext,
  fd: number,
  atim: bigint,
  mtim: bigint,
  flags: number,
): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  const err = timesFrom(atim, mtim, flags);
  if (err !== ERRNO.SUCCESS) return err;
  if (ctx.fs.readOnly(entry.path)) return ERRNO.ACCES;
  if (entry.node !== null) {
    if (newAtim !== undefined) entry.node.atim = newAtim;
    if (newMtim !== undefined) entry.node.mtim = newMtim;
  } else if (entry.type === FD_DIR) {
    const dir = ctx.fs.lookup(entry.path);
    if (dir !== null) ctx.fs.setTimes(entry.path, dir, newAtim, newMtim);
  }
  return ERRNO.SUCCESS;
}

/** The times timesFrom() decoded (undefined: leave as is); read right after it. */
export let newAtim: NodeTime | undefined;
export let newMtim: NodeTime | undefined;

/**
 * Decodes the arguments of *_filestat_set_times into newAtim/newMtim: an exact time (kept to the ns), now,
 * or unchanged. Asking for a time and "now" together is EINVAL.
 */
export function timesFrom(atim: bigint, mtim: bigint, flags: number): number {
  if (
    (flags & FSTFLAGS_ATIM && flags & FSTFLAGS_ATIM_NOW) ||
    (flags & FSTFLAGS_MTIM && flags & FSTFLAGS_MTIM_NOW)
  )
    return ERRNO.INVAL;
  const now = Date.now();
  newAtim = flags & FSTFLAGS_ATIM ? BigInt.asUintN(64, atim) : flags & FSTFLAGS_ATIM_NOW ? now : undefined;
  newMtim = flags & FSTFLAGS_MTIM ? BigInt.asUintN(64, mtim) : flags & FSTFLAGS_MTIM_NOW ? now : undefined;
  return ERRNO.SUCCESS;
}

export function fdPrestatGet(ctx: WasiContext, fd: number, ptr: number): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined || !entry.preopen) return ERRNO.BADF;
  ctx.view();
  ctx.dv.setUint32(ptr >>> 0, 0, true); // tag 0 = dir, then padding
  ctx.dv.setUint32((ptr >>> 0) + 4, entry.name.length, true);
  return ERRNO.SUCCESS;
}

export function fdPrestatDirName(ctx: WasiContext, fd: number, ptr: number, len: number): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined || !entry.preopen) return ERRNO.BADF;
  const name = entry.name;
  if (len >>> 0 < name.length) return ERRNO.NAMETOOLONG;
  ctx.view();
  if (!inBounds(ctx, ptr >>> 0, name.length)) return ERRNO.FAULT;
  ctx.u8.set(name, ptr >>> 0);
  return ERRNO.SUCCESS;
}

const direntScratch = new Uint8Array(SIZE_DIRENT);
const direntView = new DataView(direntScratch.buffer);

/**
 * Fills the buffer with dirents from `cookie` on: ".", "..", then the directory's names sorted. The cookie
 * of an entry (its d_next) is its index + 1. The last entry may be cut short, as the spec asks, so the
 * caller can tell it needs a bigger buffer.
 */
export function fdReaddir(
  ctx: WasiContext,
  fd: number,
  buf: number,
  bufLen: number,
  cookie: bigint,
  bufusedPtr: number,
): number {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) return ERRNO.BADF;
  if (entry.type !== FD_DIR) return ERRNO.NOTDIR;
  buf >>>= 0;
  bufLen >>>= 0;
  ctx.view();
  if (!inBounds(ctx, buf, bufLen)) return ERRNO.FAULT;
  const names = listing(ctx, entry);
  const total = names.length + 2;
  let used = 0;
  // The u64 cookie arrives as a signed i64: one >= 2^63 is a negative bigint, and still past the end.
  cookie = BigInt.asUintN(64, cookie);
  for (let i = cookie > BigInt(total) ? total : Number(cookie); i < total && used < bufLen; i++) {
    const name = i === 0 ? "." : i === 1 ? ".." : names[i - 2];
    const path = i === 0 ? entry.path : i === 1 ? parentOf(entry.path) : joinPath(entry.path, name);
    const node = ctx.fs.lookup(path);
    const bytes = utf8.encode(name);
    direntView.setBigUint64(0, BigInt(i + 1), true);
    direntView.setBigUint64(8, BigInt(node?.ino ?? 0), true);
    direntView.setUint32(16, bytes.length, true);
    direntView.setUint32(20, node?.kind ?? 0, true);
    used += copyClipped(ctx, direntScratch, buf + used, bufLen - used);
    used += copyClipped(ctx, bytes, buf + used, bufLen - used);
  }
  ctx.dv.setUint32(bufusedPtr >>> 0, used, true);
  return ERRNO.SUCCESS;
}

function listing(ctx: WasiContext, entry: FdEntry): string[] {
  if (entry.listing === null || entry.listingGeneration !== ctx.fs.generation) {
    entry.listing = ctx.fs.list(entry.path);
    entry.listingGeneration = ctx.fs.generation;
  }
  return entry.listing;
}

function copyClipped(ctx: WasiContext, src: Uint8Array, ptr: number, room: number): number {
  const n = Math.min(src.length, room);
  ctx.u8.set(n === src.length ? src : src.subarray(0, n), ptr);
  return n;
}
