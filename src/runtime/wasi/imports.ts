import { ERRNO } from "./constants.js";
import type { WasiContext } from "./context.js";
import * as io from "./fd-io.js";
import * as meta from "./fd-meta.js";
import * as path from "./path-calls.js";
import * as proc from "./proc-calls.js";

/** An offset into the guest's linear memory (a wasm i32). */
type Ptr = number;
/** A WASI errno (0 = success). */
type Errno = number;

/**
 * Every function of `wasi_snapshot_preview1`, as wasm calls it: i32 parameters arrive as numbers, i64 ones
 * (offsets, sizes, rights, timestamps) as bigints. Results go through pointers; the return value is the errno.
 * A type alias (not an interface) so it is assignable to WebAssembly.ModuleImports.
 */
export type WasiImports = {
  args_get(argv: Ptr, argvBuf: Ptr): Errno;
  args_sizes_get(argcPtr: Ptr, bufSizePtr: Ptr): Errno;
  environ_get(environ: Ptr, environBuf: Ptr): Errno;
  environ_sizes_get(countPtr: Ptr, bufSizePtr: Ptr): Errno;
  clock_res_get(id: number, resolutionPtr: Ptr): Errno;
  clock_time_get(id: number, precision: bigint, timePtr: Ptr): Errno;
  fd_advise(fd: number, offset: bigint, len: bigint, advice: number): Errno;
  fd_allocate(fd: number, offset: bigint, len: bigint): Errno;
  fd_close(fd: number): Errno;
  fd_datasync(fd: number): Errno;
  fd_fdstat_get(fd: number, statPtr: Ptr): Errno;
  fd_fdstat_set_flags(fd: number, flags: number): Errno;
  fd_fdstat_set_rights(fd: number, base: bigint, inheriting: bigint): Errno;
  fd_filestat_get(fd: number, statPtr: Ptr): Errno;
  fd_filestat_set_size(fd: number, size: bigint): Errno;
  fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, flags: number): Errno;
  fd_pread(fd: number, iovs: Ptr, iovsLen: number, offset: bigint, nreadPtr: Ptr): Errno;
  fd_prestat_get(fd: number, prestatPtr: Ptr): Errno;
  fd_prestat_dir_name(fd: number, path: Ptr, pathLen: number): Errno;
  fd_pwrite(fd: number, iovs: Ptr, iovsLen: number, offset: bigint, nwrittenPtr: Ptr): Errno;
  fd_read(fd: number, iovs: Ptr, iovsLen: number, nreadPtr: Ptr): Errno;
  fd_readdir(fd: number, buf: Ptr, bufLen: number, cookie: bigint, bufusedPtr: Ptr): Errno;
  fd_renumber(fd: number, to: number): Errno;
  fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: Ptr): Errno;
  fd_sync(fd: number): Errno;
  fd_tell(fd: number, offsetPtr: Ptr): Errno;
  fd_write(fd: number, iovs: Ptr, iovsLen: number, nwrittenPtr: Ptr): Errno;
  path_create_directory(fd: number, path: Ptr, pathLen: number): Errno;
  path_filestat_get(fd: number, flags: number, path: Ptr, pathLen: number, statPtr: Ptr): Errno;
  path_filestat_set_times(
    fd: number,
    flags: number,
    path: Ptr,
    pathLen: number,
    atim: bigint,
    mtim: bigint,
    fstFlags: number,
  ): Errno;
  path_link(
    oldFd: number,
    oldFlags: number,
    oldPath: Ptr,
    oldLen: number,
    newFd: number,
    newPath: Ptr,
    newLen: number,
  ): Errno;
  path_open(
    fd: number,
    dirflags: number,
    path: Ptr,
    pathLen: number,
    oflags: number,
    rightsBase: bigint,
    rightsInheriting: bigint,
    fdflags: number,
    fdPtr: Ptr,
  ): Errno;
  path_readlink(fd: number, path: Ptr, pathLen: number, buf: Ptr, bufLen: number, bufusedPtr: Ptr): Errno;
  path_remove_directory(fd: number, path: Ptr, pathLen: number): Errno;
  path_rename(fd: number, oldPath: Ptr, oldLen: number, newFd: number, newPath: Ptr, newLen: number): Errno;
  path_symlink(oldPath: Ptr, oldLen: number, fd: number, newPath: Ptr, newLen: number): Errno;
  path_unlink_file(fd: number, path: Ptr, pathLen: number): Errno;
  poll_oneoff(subscriptions: Ptr, events: Ptr, nsubscriptions: number, neventsPtr: Ptr): Errno;
  proc_exit(code: number): never;
  proc_raise(signal: number): Errno;
  sched_yield(): Errno;
  random_get(buf: Ptr, bufLen: number): Errno;
  sock_accept(fd: number, flags: number, fdPtr: Ptr): Errno;
  sock_recv(
    fd: number,
    riData: Ptr,
    riDataLen: number,
    riFlags: number,
    roDatalenPtr: Ptr,
    roFlagsPtr: Ptr,
  ): Errno;
  sock_send(fd: number, siData: Ptr, siDataLen: number, siFlags: number, soDatalenPtr: Ptr): Errno;
  sock_shutdown(fd: number, how: number): Errno;
};

/**
 * A guest pointer outside linear memory makes a DataView/TypedArray access throw RangeError: that is the
 * guest's fault (EFAULT), as in wasmtime. Anything else (WasiExit, host bugs) propagates.
 */
function fault(e: unknown): Errno {
  if (e instanceof RangeError) return ERRNO.FAULT;
  throw e;
}

/**
 * Builds the import object once per host. Each entry is a fixed-arity arrow (no rest parameters, so no
 * per-call array) that calls a free function over `ctx` inside try/catch.
 */
export function createImports(c: WasiContext): WasiImports {
  return {
    args_get: (a, b) => {
      try {
        return proc.stringsGet(c, c.args, a, b);
      } catch (e) {
        return fault(e);
      }
    },
    args_sizes_get: (a, b) => {
      try {
        return proc.stringsSizesGet(c, c.args, a, b);
      } catch (e) {
        return fault(e);
      }
    },
    environ_get: (a, b) => {
      try {
        return proc.stringsGet(c, c.env, a, b);
      } catch (e) {
        return fault(e);
      }
    },
    environ_sizes_get: (a, b) => {
      try {
        return proc.stringsSizesGet(c, c.env, a, b);
      } catch (e) {
        return fault(e);
      }
    },
    clock_res_get: (id, p) => {
      try {
        return proc.clockResGet(c, id, p);
      } catch (e) {
        return fault(e);
      }
    },
    clock_time_get: (id, precision, p) => {
      try {
        return proc.clockTimeGet(c, id, precision, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_advise: (fd, offset, len, advice) => meta.fdAdvise(c, fd, offset, len, advice),
    fd_allocate: (fd, offset, len) => meta.fdAllocate(c, fd, offset, len),
    fd_close: (fd) => meta.fdClose(c, fd),
    fd_datasync: (fd) => meta.fdSync(c, fd),
    fd_fdstat_get: (fd, p) => {
      try {
        return meta.fdFdstatGet(c, fd, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_fdstat_set_flags: (fd, flags) => meta.fdFdstatSetFlags(c, fd, flags),
    fd_fdstat_set_rights: (fd, base, inheriting) => meta.fdFdstatSetRights(c, fd, base, inheriting),
    fd_filestat_get: (fd, p) => {
      try {
        return meta.fdFilestatGet(c, fd, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_filestat_set_size: (fd, size) => meta.fdFilestatSetSize(c, fd, size),
    fd_filestat_set_times: (fd, atim, mtim, flags) => meta.fdFilestatSetTimes(c, fd, atim, mtim, flags),
    fd_pread: (fd, iovs, n, offset, p) => {
      try {
        return io.fdPread(c, fd, iovs, n, offset, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_prestat_get: (fd, p) => {
      try {
        return meta.fdPrestatGet(c, fd, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_prestat_dir_name: (fd, p, len) => {
      try {
        return meta.fdPrestatDirName(c, fd, p, len);
      } catch (e) {
        return fault(e);
      }
    },
    fd_pwrite: (fd, iovs, n, offset, p) => {
      try {
        return io.fdPwrite(c, fd, iovs, n, offset, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_read: (fd, iovs, n, p) => {
      try {
        return io.fdRead(c, fd, iovs, n, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_readdir: (fd, buf, len, cookie, p) => {
      try {
        return meta.fdReaddir(c, fd, buf, len, cookie, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_renumber: (fd, to) => meta.fdRenumber(c, fd, to),
    fd_seek: (fd, offset, whence, p) => {
      try {
        return io.fdSeek(c, fd, offset, whence, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_sync: (fd) => meta.fdSync(c, fd),
    fd_tell: (fd, p) => {
      try {
        return io.fdTell(c, fd, p);
      } catch (e) {
        return fault(e);
      }
    },
    fd_write: (fd, iovs, n, p) => {
      try {
        return io.fdWrite(c, fd, iovs, n, p);
      } catch (e) {
        return fault(e);
      }
    },
    path_create_directory: (fd, p, len) => {
      try {
        return path.pathCreateDirectory(c, fd, p, len);
      } catch (e) {
        return fault(e);
      }
    },
    path_filestat_get: (fd, flags, p, len, out) => {
      try {
        return path.pathFilestatGet(c, fd, flags, p, len, out);
      } catch (e) {
        return fault(e);
      }
    },
    path_filestat_set_times: (fd, flags, p, len, atim, mtim, fst) => {
      try {
        return path.pathFilestatSetTimes(c, fd, flags, p, len, atim, mtim, fst);
      } catch (e) {
        return fault(e);
      }
    },
    path_link: (ofd, oflags, op, olen, nfd, np, nlen) => {
      try {
        return path.pathLink(c, ofd, oflags, op, olen, nfd, np, nlen);
      } catch (e) {
        return fault(e);
      }
    },
    path_open: (fd, dirflags, p, len, oflags, base, inheriting, fdflags, out) => {
      try {
        return path.pathOpen(c, fd, dirflags, p, len, oflags, base, inheriting, fdflags, out);
      } catch (e) {
        return fault(e);
      }
    },
    path_readlink: (fd, p, len, buf, bufLen, out) => {
      try {
        return path.pathReadlink(c, fd, p, len, buf, bufLen, out);
      } catch (e) {
        return fault(e);
      }
    },
    path_remove_directory: (fd, p, len) => {
      try {
        return path.pathRemoveDirectory(c, fd, p, len);
      } catch (e) {
        return fault(e);
      }
    },
    path_rename: (fd, op, olen, nfd, np, nlen) => {
      try {
        return path.pathRename(c, fd, op, olen, nfd, np, nlen);
      } catch (e) {
        return fault(e);
      }
    },
    path_symlink: (op, olen, fd, np, nlen) => {
      try {
        return path.pathSymlink(c, op, olen, fd, np, nlen);
      } catch (e) {
        return fault(e);
      }
    },
    path_unlink_file: (fd, p, len) => {
      try {
        return path.pathUnlinkFile(c, fd, p, len);
      } catch (e) {
        return fault(e);
      }
    },
    poll_oneoff: (subs, events, n, p) => {
      try {
        return proc.pollOneoff(c, subs, events, n, p);
      } catch (e) {
        return fault(e);
      }
    },
    proc_exit: proc.procExit,
    proc_raise: proc.notImplemented,
    sched_yield: proc.schedYield,
    random_get: (buf, len) => {
      try {
        return proc.randomGet(c, buf, len);
      } catch (e) {
        return fault(e);
      }
    },
    sock_accept: (fd, _flags, _fdPtr) => proc.notSocket(c, fd),
    sock_recv: (fd, _ri, _riLen, _riFlags, _roLen, _roFlags) => proc.notSocket(c, fd),
    sock_send: (fd, _si, _siLen, _siFlags, _soLen) => proc.notSocket(c, fd),
    sock_shutdown: (fd, _how) => proc.notSocket(c, fd),
  };
}
