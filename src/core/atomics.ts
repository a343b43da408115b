/**
 * Atomics.waitAsync (ES2024; in Node 20's V8, not in the TypeScript lib this project targets): waits without
 * blocking the thread for `a[i]` to change from `v`, at most `ms`.
 */
export const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: unknown };
  }
).waitAsync;
