/**
 * Thrown by proc_exit to unwind the guest's stack: the caller of `_start` catches it, reads `code` and passes
 * it to WasiHost.end(). Any other exception out of `_start` is a trap.
 */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`wasi: the module exited with status ${code}`);
    this.name = "WasiExit";
  }
}
