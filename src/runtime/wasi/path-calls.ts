/**
 * path_* calls over the invocation's overlay filesystem (path-resolve.ts says how paths are resolved). Errnos
 * are those Linux gives wasmtime for the same call: a symlink in the last component is opened only with
 * SYMLINK_FOLLOW (else ELOOP, as O_NOFOLLOW), hard links to directories are EPERM, a trailing slash on a file
 * is ENOTDIR.
 */
import {
  ERRNO,
  FDFLAGS_ALL,
  FILETYPE_DIRECTORY,
  FILETYPE_REGULAR_FILE,
  FILETYPE_SYMBOLIC_LINK,
  LOOKUPFLAGS_SYMLINK_FOLLOW,
  OFLAGS_CREAT,
  OFLAGS_DIRECTORY,
  OFLAGS_EXCL,
  OFLAGS_TRUNC,
  RIGHT_FD_ALLOCATE,
  RIGHT_FD_FILESTAT_SET_SIZE,
  RIGHT_FD_FILESTAT_SET_TIMES,
  RIGHT_FD_WRITE,
  RIGHT_PATH_CREATE_FILE,
  RIGHT_PATH_FILESTAT_SET_SIZE,
  RIGHTS_DIRECTORY,
  RIGHTS_FILE,
} from "./constants.js";
import type { WasiContext } from "./context.js";
import { newAtim, newMtim, timesFrom } from "./fd-meta.js";
import { FD_DIR, FD_FILE, FdEntry } from "./fd-table.js";
import { parentOf } from "./fs-image.js";
import { inBounds, readString, writeNodeStat } from "./memory.js";
import type { AnyNode } from "./overlay-fs.js";
import { mustBeDir, resolve } from "./path-resolve.js";

const utf8 = new TextEncoder();

/** Rights an fd on a read-only (mounted) file never gets. */
const WRITE_RIGHTS =
  RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE | RIGHT_FD_FILESTAT_SET_TIMES;

/** ENOENT/ENOTDIR unless `path`'s parent is an existing directory. */
function checkParent(ctx: WasiContext, path: string): number {
  const parent = parentOf(path);
  const node = ctx.fs.lookup(parent);
  if (node === null) return ctx.fs.missing(parent);
  return node.kind === FILETYPE_DIRECTORY ? ERRNO.SUCCESS : ERRNO.NOTDIR;
}

/** The node at `path`, or an errno (ENOENT, ENOTDIR for "file/"). */
function existing(ctx: WasiContext, path: string): AnyNode | number {
  const node = ctx.fs.lookup(path);
  if (node === null) return ctx.fs.missing(path);
  return mustBeDir && node.kind !== FILETYPE_DIRECTORY ? ERRNO.NOTDIR : node;
}

const follows = (flags: number): boolean => (flags & LOOKUPFLAGS_SYMLINK_FOLLOW) !== 0;

export function pathOpen(
  ctx: WasiContext,
  fd: number,
  lookupFlags: number,
  pathPtr: number,
  pathLen: number,
  oflags: number,
  rightsBase: bigint,
  rightsInheriting: bigint,
  fdflags: number,
  fdPtr: number,
): number {
  const path = resolve(ctx, fd, pathPtr, pathLen, follows(lookupFlags));
  if (typeof path === "number") return path;
  const dir = ctx.fds.get(fd)!;
  // What is opened gets no right its directory does not hand down (wasi-libc asks for the inheriting set).
  rightsBase = BigInt.asUintN(64, rightsBase) & dir.rightsInheriting;
  rightsInheriting = BigInt.asUintN(64, rightsInheriting) & dir.rightsInheriting;
  let node = ctx.fs.lookup(path);
  let entry: FdEntry;
  if (node === null) {
    if ((oflags & OFLAGS_CREAT) === 0) return ctx.fs.missing(path);
    if (mustBeDir) return ERRNO.ISDIR;
    if (oflags & OFLAGS_DIRECTORY) return ERRNO.INVAL;
    if ((dir.rightsBase & RIGHT_PATH_CREATE_FILE) === 0n) return ERRNO.NOTCAPABLE;
    const err = checkParent(ctx, path);
    if (err !== ERRNO.SUCCESS) return err;
    if (ctx.fs.readOnly(path)) return ERRNO.ACCES;
    node = ctx.fs.createFile(path);
  } else if (oflags & OFLAGS_CREAT && oflags & OFLAGS_EXCL) {
    return ERRNO.EXIST;
  }
  // Not followed (no SYMLINK_FOLLOW): O_NOFOLLOW's answer.
  if (node.kind === FILETYPE_SYMBOLIC_LINK) return ERRNO.LOOP;
  // The truncation rights rule: O_TRUNC needs path_filestat_set_size on the directory, not a right on the file.
  if (oflags & OFLAGS_TRUNC && (dir.rightsBase & RIGHT_PATH_FILESTAT_SET_SIZE) === 0n)
    return ERRNO.NOTCAPABLE;
  if (node.kind === FILETYPE_DIRECTORY) {
    if (oflags & OFLAGS_TRUNC || (rightsBase & RIGHT_FD_WRITE) !== 0n) return ERRNO.ISDIR;
    entry = new FdEntry(FD_DIR, path, null, rightsBase & RIGHTS_DIRECTORY, rightsInheriting);
  } else {
    if (oflags & OFLAGS_DIRECTORY || mustBeDir) return ERRNO.NOTDIR;
    // A mounted secret or config is read-only: opening it for writing is what a 0444 file answers.
    if (ctx.fs.readOnly(path)) {
      if (oflags & OFLAGS_TRUNC || (rightsBase & RIGHT_FD_WRITE) !== 0n) return ERRNO.ACCES;
      rightsBase &= ~WRITE_RIGHTS;
    }
    const file = ctx.fs.fileNode(path, node);
    if (oflags & OFLAGS_TRUNC) {
      const err = ctx.fs.resize(file, 0);
      if (err !== ERRNO.SUCCESS) return err;
    }
    entry = new FdEntry(FD_FILE, path, file, rightsBase & RIGHTS_FILE, rightsInheriting & RIGHTS_FILE);
    entry.flags = fdflags & FDFLAGS_ALL;
  }
  const opened = ctx.fds.add(entry);
  if (opened < 0) return ERRNO.MFILE;
  if (entry.node !== null) entry.node.opens++;
  ctx.dv.setUint32(fdPtr >>> 0, opened, true);
  return ERRNO.SUCCESS;
}

export function pathCreateDirectory(ctx: WasiContext, fd: number, ptr: number, len: number): number {
  const path = resolve(ctx, fd, ptr, len, false);
  if (typeof path === "number") return path;
  if (ctx.fs.lookup(path) !== null) return ERRNO.EXIST;
  const err = checkParent(ctx, path);
  if (err !== ERRNO.SUCCESS) return err;
  if (ctx.fs.readOnly(path)) return ERRNO.ACCES;
  ctx.fs.createDir(path);
  return ERRNO.SUCCESS;
}

export function pathRemoveDirectory(ctx: WasiContext, fd: number, ptr: number, len: number): number {
  const path = resolve(ctx, fd, ptr, len, false);
  if (typeof path === "number") return path;
  const node = ctx.fs.lookup(path);
  if (node === null) return ctx.fs.missing(path);
  if (node.kind !== FILETYPE_DIRECTORY) return ERRNO.NOTDIR;
  if (path === ctx.fds.get(fd)!.path) return ERRNO.INVAL;
  if (ctx.fs.list(path).length > 0) return ERRNO.NOTEMPTY;
  if (ctx.fs.readOnly(path)) return ERRNO.ACCES;
  ctx.fs.remove(path);
  return ERRNO.SUCCESS;
}

export function pathUnlinkFile(ctx: WasiContext, fd: number, ptr: number, len: number): number {
  const path = resolve(ctx, fd, ptr, len, false);
  if (typeof path === "number") return path;
  const node = ctx.fs.lookup(path);
  if (node === null) return ctx.fs.missing(path);
  if (node.kind === FILETYPE_DIRECTORY) return ERRNO.ISDIR;
  if (mustBeDir) return ERRNO.NOTDIR;
  if (ctx.fs.readOnly(path)) return ERRNO.ACCES;
  ctx.fs.remove(path);
  return ERRNO.SUCCESS;
}

export function pathRename(
  ctx: WasiContext,
  fd: number,
  oldPtr: number,
  oldLen: number,
  newFd: number,
  newPtr: number,
  newLen: number,
): number {
  const from = resolve(ctx, fd, oldPtr, oldLen, false);
  if (typeof from === "number") return from;
  const fromMustBeDir = mustBeDir;
  const to = resolve(ctx, newFd, newPtr, newLen, false);
  if (typeof to === "number") return to;
  const src = ctx.fs.lookup(from);
  if (src === null) return ctx.fs.missing(from);
  if (from === "/" || to === "/") return ERRNO.BUSY;
  const srcIsDir = src.kind === FILETYPE_DIRECTORY;
  if (!srcIsDir && (fromMustBeDir || mustBeDir)) return ERRNO.NOTDIR;
  if (from === to) return ERRNO.SUCCESS;
  if (to.startsWith(`${from}/`)) return ERRNO.INVAL;
  if (ctx.fs.readOnly(from) || ctx.fs.readOnly(to)) return ERRNO.ACCES;
  const dst = ctx.fs.lookup(to);
  if (dst !== null) {
    const dstIsDir = dst.kind === FILETYPE_DIRECTORY;
    if (srcIsDir && !dstIsDir) return ERRNO.NOTDIR;
    if (!srcIsDir && dstIsDir) return ERRNO.ISDIR;
    if (dstIsDir && ctx.fs.list(to).length > 0) return ERRNO.NOTEMPTY;
  } else {
    const err = checkParent(ctx, to);
    if (err !== ERRNO.SUCCESS) return err;
  }
  ctx.fs.rename(from, to);
  return ERRNO.SUCCESS;
}

export function pathFilestatGet(
  ctx: WasiContext,
  fd: number,
  flags: number,
  ptr: number,
  len: number,
  bufPtr: number,
): number {
  const path = resolve(ctx, fd, ptr, len, follows(flags));
  if (typeof path === "number") return path;
  const node = existing(ctx, path);
  if (typeof node === "number") return node;
  writeNodeStat(ctx, bufPtr >>> 0, node);
  return ERRNO.SUCCESS;
}

export function pathFilestatSetTimes(
  ctx: WasiContext,
  fd: number,
  flags: number,
  ptr: number,
  len: number,
  atim: bigint,
  mtim: bigint,
  fstFlags: number,
): number {
  const err = timesFrom(atim, mtim, fstFlags);
  if (err !== ERRNO.SUCCESS) return err;
  const path = resolve(ctx, fd, ptr, len, follows(flags));
  if (typeof path === "number") return path;
  const node = existing(ctx, path);
  if (typeof node === "number") return node;
  if (ctx.fs.readOnly(path)) return ERRNO.ACCES;
  ctx.fs.setTimes(path, node, newAtim, newMtim);
  return ERRNO.SUCCESS;
}

export function pathReadlink(
  ctx: WasiContext,
  fd: number,
  ptr: number,
  len: number,
  buf: number,
  bufLen: number,
  bufusedPtr: number,
): number {
  const path = resolve(ctx, fd, ptr, len, false);
  if (typeof path === "number") return path;
  const node = existing(ctx, path);
  if (typeof node === "number") return node;
  if (node.kind !== FILETYPE_SYMBOLIC_LINK) return ERRNO.INVAL;
  const bytes = utf8.encode(node.target);
  const n = Math.min(bytes.length, bufLen >>> 0);
  if (!inBounds(ctx, buf >>> 0, n)) return ERRNO.FAULT;
  // Cut to the buffer, as readlink(2) does; the guest tells by bufused == buf_len.
  ctx.u8.set(bytes.subarray(0, n), buf >>> 0);
  ctx.dv.setUint32(bufusedPtr >>> 0, n, true);
  return ERRNO.SUCCESS;
}

export function pathSymlink(
  ctx: WasiContext,
  oldPtr: number,
  oldLen: number,
  fd: number,
  newPtr: number,
  newLen: number,
): number {
  ctx.view();
  const target = readString(ctx, oldPtr >>> 0, oldLen >>> 0);
  if (target === null) return ERRNO.ILSEQ;
  if (target.includes("\0")) return ERRNO.INVAL;
  // A link that would lead out of the sandbox is refused when made, not only when followed.
  if (target.charCodeAt(0) === 47) return ERRNO.NOTCAPABLE;
  const path = resolve(ctx, fd, newPtr, newLen, false);
  if (typeof path === "number") return path;
  const node = ctx.fs.lookup(path);
  if (node !== null) return mustBeDir && node.kind === FILETYPE_REGULAR_FILE ? ERRNO.NOTDIR : ERRNO.EXIST;
  if (mustBeDir) return ERRNO.NOENT;
  const err = checkParent(ctx, path);
  if (err !== ERRNO.SUCCESS) return err;
  if (ctx.fs.readOnly(path)) return ERRNO.ACCES;
  ctx.fs.createSymlink(path, target, utf8.encode(target).length);
  return ERRNO.SUCCESS;
}

export function pathLink(
  ctx: WasiContext,
  oldFd: number,
  oldFlags: number,
  oldPtr: number,
  oldLen: number,
  newFd: number,
  newPtr: number,
  newLen: number,
): number {
  const from = resolve(ctx, oldFd, oldPtr, oldLen, follows(oldFlags));
  if (typeof from === "number") return from;
  const src = existing(ctx, from);
  if (typeof src === "number") return src;
  if (src.kind === FILETYPE_DIRECTORY) return ERRNO.PERM;
  const to = resolve(ctx, newFd, newPtr, newLen, false);
  if (typeof to === "number") return to;
  if (ctx.fs.lookup(to) !== null) return ERRNO.EXIST;
  if (mustBeDir) return ERRNO.NOENT;
  const err = checkParent(ctx, to);
  if (err !== ERRNO.SUCCESS) return err;
  if (ctx.fs.readOnly(from) || ctx.fs.readOnly(to)) return ERRNO.ACCES;
  ctx.fs.link(from, src, to);
  return ERRNO.SUCCESS;
}
