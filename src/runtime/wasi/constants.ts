/**
 * WASI preview1 numbers, from WebAssembly/WASI phases/snapshot/witx (typenames.witx,
 * wasi_snapshot_preview1.witx). Only the values this host uses are named.
 */

/** errno: every import returns one of these (as the wasm i32 result). */
export const ERRNO = {
  SUCCESS: 0,
  ACCES: 2,
  BADF: 8,
  BUSY: 10,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  ILSEQ: 25,
  INVAL: 28,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSOCK: 57,
  NOTSUP: 58,
  OVERFLOW: 61,
  PERM: 63,
  SPIPE: 70,
  NOTCAPABLE: 76,
} as const;

/** filetype (u8). */
export const FILETYPE_CHARACTER_DEVICE = 2;
export const FILETYPE_DIRECTORY = 3;
export const FILETYPE_REGULAR_FILE = 4;
export const FILETYPE_SYMBOLIC_LINK = 7;

/** lookupflags (u32) of path_*: follow a symlink in the last component. */
export const LOOKUPFLAGS_SYMLINK_FOLLOW = 1;

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

/** rights (u64), by bit: bits 0..29 are every right preview1 defines. */
export const RIGHT_FD_DATASYNC = 1n << 0n;
export const RIGHT_FD_READ = 1n << 1n;
export const RIGHT_FD_SEEK = 1n << 2n;
export const RIGHT_FD_FDSTAT_SET_FLAGS = 1n << 3n;
export const RIGHT_FD_SYNC = 1n << 4n;
export const RIGHT_FD_TELL = 1n << 5n;
export const RIGHT_FD_WRITE = 1n << 6n;
export const RIGHT_FD_ADVISE = 1n << 7n;
export const RIGHT_FD_ALLOCATE = 1n << 8n;
export const RIGHT_PATH_CREATE_FILE = 1n << 10n;
export const RIGHT_PATH_FILESTAT_SET_SIZE = 1n << 19n;
export const RIGHT_FD_FILESTAT_GET = 1n << 21n;
export const RIGHT_FD_FILESTAT_SET_SIZE = 1n << 22n;
export const RIGHT_FD_FILESTAT_SET_TIMES = 1n << 23n;
export const RIGHT_POLL_FD_READWRITE = 1n << 27n;
export const RIGHTS_ALL = (1n << 30n) - 1n;
/** Every right but sock_shutdown and sock_accept (bits 28, 29). */
const RIGHTS_NOT_SOCKET = (1n << 28n) - 1n;
/** What an open regular file can do (wasmtime's set): no path_* rights, no readdir. */
export const RIGHTS_FILE =
  RIGHT_FD_DATASYNC |
  RIGHT_FD_READ |
  RIGHT_FD_SEEK |
  RIGHT_FD_FDSTAT_SET_FLAGS |
  RIGHT_FD_SYNC |
  RIGHT_FD_TELL |
  RIGHT_FD_WRITE |
  RIGHT_FD_ADVISE |
  RIGHT_FD_ALLOCATE |
  RIGHT_FD_FILESTAT_GET |
  RIGHT_FD_FILESTAT_SET_SIZE |
  RIGHT_FD_FILESTAT_SET_TIMES |
  RIGHT_POLL_FD_READWRITE;
/**
 * What a directory can do: every path_* right, readdir, stat and times — but not read, write, seek, tell,
 * allocate or set_size, which mean nothing for a directory (a preopen that claimed FD_WRITE made Rust's std
 * ask for it again on `open(".")`, which directories refuse with EISDIR).
 */
export const RIGHTS_DIRECTORY =
  (RIGHTS_NOT_SOCKET & ~RIGHTS_FILE) |
  RIGHT_FD_FDSTAT_SET_FLAGS |
  RIGHT_FD_SYNC |
  RIGHT_FD_DATASYNC |
  RIGHT_FD_ADVISE |
  RIGHT_FD_FILESTAT_GET |
  RIGHT_FD_FILESTAT_SET_TIMES |
  RIGHT_POLL_FD_READWRITE;
/** What a directory's fds hand down to what is opened through them: both sets. */
export const RIGHTS_DIRECTORY_INHERITING = RIGHTS_DIRECTORY | RIGHTS_FILE;

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
