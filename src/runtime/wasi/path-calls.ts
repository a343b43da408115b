/**
 * path_* calls. Paths are resolved against the directory fd lexically ("." and ".." handled); a path that
 * is absolute or climbs above that directory fails with ENOTCAPABLE, as wasmtime does. There are no
 * symlinks: path_symlink and path_link are ENOTSUP, path_readlink is EINVAL on anything that exists.
 */
import {
  ERRNO,
  FDFLAGS_ALL,
  FILETYPE_DIRECTORY,
  OFLAGS_CREAT,
  OFLAGS_DIRECTORY,
  OFLAGS_EXCL,
  OFLAGS_TRUNC,
  RIGHT_FD_WRITE,
  RIGHTS_ALL,
} from "./constants.js";
import type { WasiContext } from "./context.js";
import { setTimes } from "./fd-meta.js";
import { FD_DIR, FD_FILE, FdEntry } from "./fd-table.js";
import { parentOf } from "./fs-image.js";
import { readString, writeFilestat } from "./memory.js";
import type { AnyNode } from "./overlay-fs.js";

/** Set by resolve(): the path named a directory explicitly ("a/", "a/."), so a file there is ENOTDIR. */
let mustBeDir = false;

/** The absolute path `ptr/len` names relative to directory fd `fd`, or an errno. */
function resolve(ctx: WasiContext, fd: number, ptr: number, len: number): string | number {
  const dir = ctx.fds.get(fd);
  if (dir === undefined) return ERRNO.BADF;
  if (dir.type !== FD_DIR) return ERRNO.NOTDIR;
  ctx.view();
  const rel = readString(ctx, ptr >>> 0, len >>> 0);
  if (rel === null) return ERRNO.ILSEQ;
  if (rel.length === 0) return ERRNO.NOENT;
  if (rel.charCodeAt(0) === 47 /* "/" */) return ERRNO.NOTCAPABLE;
  if (rel.includes("\0")) return ERRNO.INVAL;
  const segments = dir.path === "/" ? [] : dir.path.slice(1).split("/");
  const floor = segments.length;
  const parts = rel.split("/");
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (segments.length === floor) return ERRNO.NOTCAPABLE;
      segments.pop();
    } else {
      segments.push(part);
    }
  }
  const last = parts[parts.length - 1];
  mustBeDir = last === "" || last === "." || last === "..";
  return `/${segments.join("/")}`;
}

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

export function pathOpen(
  ctx: WasiContext,
  fd: number,
  _lookupFlags: number,
  pathPtr: number,
  pathLen: number,
  oflags: number,
  rightsBase: bigint,
  rightsInheriting: bigint,
  fdflags: number,
  fdPtr: number,
): number {
  const path = resolve(ctx, fd, pathPtr, pathLen);
  if (typeof path === "number") return path;
  rightsBase = BigInt.asUintN(64, rightsBase) & RIGHTS_ALL;
  rightsInheriting = BigInt.asUintN(64, rightsInheriting) & RIGHTS_ALL;
  let node = ctx.fs.lookup(path);
  let entry: FdEntry;
  if (node === null) {
    if ((oflags & OFLAGS_CREAT) === 0) return ctx.fs.missing(path);
    if (mustBeDir) return ERRNO.ISDIR;
    if (oflags & OFLAGS_DIRECTORY) return ERRNO.INVAL;
    const err = checkParent(ctx, path);
    if (err !== ERRNO.SUCCESS) return err;
    node = ctx.fs.createFile(path);
  } else if (oflags & OFLAGS_CREAT && oflags & OFLAGS_EXCL) {
    return ERRNO.EXIST;
  }
  if (node.kind === FILETYPE_DIRECTORY) {
    if (oflags & OFLAGS_TRUNC || (rightsBase & RIGHT_FD_WRITE) !== 0n) return ERRNO.ISDIR;
    entry = new FdEntry(FD_DIR, path, null, rightsBase, rightsInheriting);
  } else {
    if (oflags & OFLAGS_DIRECTORY || mustBeDir) return ERRNO.NOTDIR;
    const file = ctx.fs.fileNode(path, node);
    if (oflags & OFLAGS_TRUNC) {
      const err = ctx.fs.resize(file, 0);
      if (err !== ERRNO.SUCCESS) return err;
    }
    entry = new FdEntry(FD_FILE, path, file, rightsBase, rightsInheriting);
    entry.flags = fdflags & FDFLAGS_ALL;
  }
  const opened = ctx.fds.add(entry);
  if (opened < 0) return ERRNO.MFILE;
  if (entry.node !== null) entry.node.opens++;
  ctx.dv.setUint32(fdPtr >>> 0, opened, true);
  return ERRNO.SUCCESS;
}

export function pathCreateDirectory(ctx: WasiContext, fd: number, ptr: number, len: number): number {
  const path = resolve(ctx, fd, ptr, len);
  if (typeof path === "number") return path;
  if (ctx.fs.lookup(path) !== null) return ERRNO.EXIST;
  const err = checkParent(ctx, path);
  if (err !== ERRNO.SUCCESS) return err;
  ctx.fs.createDir(path);
  return ERRNO.SUCCESS;
}

export function pathRemoveDirectory(ctx: WasiContext, fd: number, ptr: number, len: number): number {
  const path = resolve(ctx, fd, ptr, len);
  if (typeof path === "number") return path;
  const node = ctx.fs.lookup(path);
  if (node === null) return ctx.fs.missing(path);
  if (node.kind !== FILETYPE_DIRECTORY) return ERRNO.NOTDIR;
  if (path === ctx.fds.get(fd)!.path) return ERRNO.INVAL;
  if (ctx.fs.list(path).length > 0) return ERRNO.NOTEMPTY;
  ctx.fs.remove(path);
  return ERRNO.SUCCESS;
}

export function pathUnlinkFile(ctx: WasiContext, fd: number, ptr: number, len: number): number {
  const path = resolve(ctx, fd, ptr, len);
  if (typeof path === "number") return path;
  const node = existing(ctx, path);
  if (typeof node === "number") return node;
  if (node.kind === FILETYPE_DIRECTORY) return ERRNO.ISDIR;
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
  const from = resolve(ctx, fd, oldPtr, oldLen);
  if (typeof from === "number") return from;
  const fromMustBeDir = mustBeDir;
  const to = resolve(ctx, newFd, newPtr, newLen);
  if (typeof to === "number") return to;
  const src = ctx.fs.lookup(from);
  if (src === null) return ctx.fs.missing(from);
  if (from === "/" || to === "/") return ERRNO.BUSY;
  const srcIsDir = src.kind === FILETYPE_DIRECTORY;
  if (!srcIsDir && (fromMustBeDir || mustBeDir)) return ERRNO.NOTDIR;
  if (from === to) return ERRNO.SUCCESS;
  if (to.startsWith(`${from}/`)) return ERRNO.INVAL;
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
  _flags: number,
  ptr: number,
  len: number,
  bufPtr: number,
): number {
  const path = resolve(ctx, fd, ptr, len);
  if (typeof path === "number") return path;
  const node = existing(ctx, path);
  if (typeof node === "number") return node;
  writeFilestat(ctx, bufPtr >>> 0, node.kind, node.ino, node.size, node.mtimMs);
  return ERRNO.SUCCESS;
}

export function pathFilestatSetTimes(
  ctx: WasiContext,
  fd: number,
  _flags: number,
  ptr: number,
  len: number,
  atim: bigint,
  mtim: bigint,
  fstFlags: number,
): number {
  const path = resolve(ctx, fd, ptr, len);
  if (typeof path === "number") return path;
  const node = existing(ctx, path);
  if (typeof node === "number") return node;
  const file = node.kind === FILETYPE_DIRECTORY ? null : ctx.fs.fileNode(path, node);
  return setTimes(file, atim, mtim, fstFlags);
}

export function pathReadlink(
  ctx: WasiContext,
  fd: number,
  ptr: number,
  len: number,
  _buf: number,
  _bufLen: number,
  _bufusedPtr: number,
): number {
  const path = resolve(ctx, fd, ptr, len);
  if (typeof path === "number") return path;
  const node = existing(ctx, path);
  return typeof node === "number" ? node : ERRNO.INVAL;
}

/** path_link, path_symlink: this filesystem has neither hard nor symbolic links. */
export function pathNoLinks(): number {
  return ERRNO.NOTSUP;
}
