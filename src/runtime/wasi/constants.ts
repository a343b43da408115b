/**
 * WASI preview1 numbers, from WebAssembly/WASI phases/snapshot/witx (typenames.witx,
 * wasi_snapshot_preview1.witx). Only the values this host uses are named.
 */

/** errno: every import returns one of these (as the wasm i32 result). */
export const ERRNO = {
  SUCCESS: 0,
  BADF: 8,
  BUSY: 10,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  ILSEQ: 25,
  INVAL: 28,
  ISDIR: 31,
  MFILE: 33,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSUP: 58,
  OVERFLOW: 61,
  SPIPE: 70,
  NOTCAPABLE: 76,
} as const;

/** filetype (u8). */
export const FILETYPE_CHARACTER_DEVICE = 2;
export const FILETYPE_DIRECTORY = 3;
export const FILETYPE_REGULAR_FILE = 4;

/** oflags (u16) of path_open. */
export const OFLAGS_CREAT = 1;
export const OFLAGS_DIRECTORY = 2;
export const OFLAGS_EXCL = 4;
export const OFLAGS_TRUNC = 8;

/** fdflags (u16). Only APPEND changes behaviour here; the sync flags are accepted and kept. */
export const FDFLAGS_APPEND = 1;
export const FDFLAGS_ALL = 0x1f;

/** fstflags (u16) of *_filestat_set_times. */
export const FSTFLAGS_ATIM = 1;
export const FSTFLAGS_ATIM_NOW = 2;
export const FSTFLAGS_MTIM = 4;
export const FSTFLAGS_MTIM_NOW = 8;

/** whence (u8) of fd_seek. */
export const WHENCE_SET = 0;
export const WHENCE_CUR = 1;
export const WHENCE_END = 2;

/** clockid (u32). */
export const CLOCK_REALTIME = 0;
export const CLOCK_MONOTONIC = 1;
export const CLOCK_PROCESS_CPUTIME = 2;
export const CLOCK_THREAD_CPUTIME = 3;

/** rights (u64): bit 1 fd_read, bit 6 fd_write; bits 0..29 are every right preview1 defines. */
export const RIGHT_FD_READ = 1n << 1n;
export const RIGHT_FD_WRITE = 1n << 6n;
export const RIGHTS_ALL = (1n << 30n) - 1n;

/** eventtype (u8) of poll_oneoff. */
export const EVENTTYPE_CLOCK = 0;
export const EVENTTYPE_FD_READ = 1;
export const EVENTTYPE_FD_WRITE = 2;
/** subclockflags: the timeout is an absolute time of the clock, not relative to now. */
export const SUBCLOCKFLAGS_ABSTIME = 1;

/** advice (u8) of fd_advise: normal..noreuse. */
export const ADVICE_MAX = 5;

/** Struct sizes in bytes (the witx layouts). */
export const SIZE_IOVEC = 8;
export const SIZE_FDSTAT = 24;
export const SIZE_FILESTAT = 64;
export const SIZE_DIRENT = 24;
export const SIZE_SUBSCRIPTION = 48;
export const SIZE_EVENT = 32;
