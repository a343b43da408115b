/** A wasm value type of a WASI preview1 function's core signature. */
export type WasiValType = "i32" | "i64";

/** The core wasm signature of one preview1 function, as a module must import it. */
export interface WasiSignature {
  readonly params: readonly WasiValType[];
  readonly results: readonly WasiValType[];
}

/** A function returning an errno: every preview1 function but proc_exit. */
const errno = (...params: WasiValType[]): WasiSignature => ({ params, results: ["i32"] });

/**
 * Every function of `wasi_snapshot_preview1`, lowered from the WASI preview1 witx
 * (WebAssembly/WASI legacy/preview1/witx/wasi_snapshot_preview1.witx): pointers, sizes, fds, enums and flags up
 * to 32 bits are i32; filesize, filedelta, timestamp, rights and dircookie (64-bit) are i64; a string or array
 * is (pointer, length); each result besides the errno is an out-pointer appended to the parameters.
 * The runtime's WASI host implements exactly these names (checked by src/runtime/wasi/imports.test.ts).
 */
export const WASI_PREVIEW1 = {
  args_get: errno("i32", "i32"),
  args_sizes_get: errno("i32", "i32"),
  environ_get: errno("i32", "i32"),
  environ_sizes_get: errno("i32", "i32"),
  clock_res_get: errno("i32", "i32"),
  clock_time_get: errno("i32", "i64", "i32"),
  fd_advise: errno("i32", "i64", "i64", "i32"),
  fd_allocate: errno("i32", "i64", "i64"),
  fd_close: errno("i32"),
  fd_datasync: errno("i32"),
  fd_fdstat_get: errno("i32", "i32"),
  fd_fdstat_set_flags: errno("i32", "i32"),
  fd_fdstat_set_rights: errno("i32", "i64", "i64"),
  fd_filestat_get: errno("i32", "i32"),
  fd_filestat_set_size: errno("i32", "i64"),
  fd_filestat_set_times: errno("i32", "i64", "i64", "i32"),
  fd_pread: errno("i32", "i32", "i32", "i64", "i32"),
  fd_prestat_get: errno("i32", "i32"),
  fd_prestat_dir_name: errno("i32", "i32", "i32"),
  fd_pwrite: errno("i32", "i32", "i32", "i64", "i32"),
  fd_read: errno("i32", "i32", "i32", "i32"),
  fd_readdir: errno("i32", "i32", "i32", "i64", "i32"),
  fd_renumber: errno("i32", "i32"),
  fd_seek: errno("i32", "i64", "i32", "i32"),
  fd_sync: errno("i32"),
  fd_tell: errno("i32", "i32"),
  fd_write: errno("i32", "i32", "i32", "i32"),
  path_create_directory: errno("i32", "i32", "i32"),
  path_filestat_get: errno("i32", "i32", "i32", "i32", "i32"),
  path_filestat_set_times: errno("i32", "i32", "i32", "i32", "i64", "i64", "i32"),
  path_link: errno("i32", "i32", "i32", "i32", "i32", "i32", "i32"),
  path_open: errno("i32", "i32", "i32", "i32", "i32", "i64", "i64", "i32", "i32"),
  path_readlink: errno("i32", "i32", "i32", "i32", "i32", "i32"),
  path_remove_directory: errno("i32", "i32", "i32"),
  path_rename: errno("i32", "i32", "i32", "i32", "i32", "i32"),
  path_symlink: errno("i32", "i32", "i32", "i32", "i32"),
  path_unlink_file: errno("i32", "i32", "i32"),
  poll_oneoff: errno("i32", "i32", "i32", "i32"),
  proc_exit: { params: ["i32"], results: [] },
  proc_raise: errno("i32"),
  sched_yield: errno(),
  random_get: errno("i32", "i32"),
  sock_accept: errno("i32", "i32", "i32"),
  sock_recv: errno("i32", "i32", "i32", "i32", "i32", "i32"),
  sock_send: errno("i32", "i32", "i32", "i32", "i32"),
  sock_shutdown: errno("i32", "i32"),
} as const satisfies Record<string, WasiSignature>;

export type WasiFunctionName = keyof typeof WASI_PREVIEW1;

/** The preview1 signature of `name`, or undefined when preview1 has no such function. */
export function wasiSignature(name: string): WasiSignature | undefined {
  return Object.hasOwn(WASI_PREVIEW1, name) ? WASI_PREVIEW1[name as WasiFunctionName] : undefined;
}

/** A signature as error messages show it: `(i32, i64) -> i32`, `(i32) -> ()`. */
export function formatSignature(sig: { params: readonly string[]; results: readonly string[] }): string {
  const results = sig.results.length === 1 ? sig.results[0] : `(${sig.results.join(", ")})`;
  return `(${sig.params.join(", ")}) -> ${results}`;
}
