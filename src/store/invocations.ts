import type { AsyncInvocation, InvocationStatus } from "../core/index.js";
import type { InvocationQuery } from "./types.js";

/** The finished statuses: the only ones purge deletes. */
export const FINISHED: readonly InvocationStatus[] = ["succeeded", "dead"];

/** Zero per status, to count into. */
export function emptyCounts(): Record<InvocationStatus, number> {
  return { pending: 0, running: 0, succeeded: 0, dead: 0 };
}

/** Whether `inv` matches every field of `q`. */
export function matches(inv: AsyncInvocation, q: InvocationQuery): boolean {
  return (
    (q.function === undefined || inv.function === q.function) &&
    (q.status === undefined || inv.status === q.status) &&
    (q.id === undefined || inv.id === q.id)
  );
}

/** `inv` claimed for an attempt at `nowMs`. */
export function claimed(inv: AsyncInvocation, nowMs: number): AsyncInvocation {
  return { ...inv, status: "running", attempts: inv.attempts + 1, updatedAt: new Date(nowMs).toISOString() };
}

/** `inv` given another chance: pending now, no attempts, its age counted from now. */
export function redriven(inv: AsyncInvocation, nowMs: number): AsyncInvocation {
  const now = new Date(nowMs).toISOString();
  return {
    ...inv,
    status: "pending",
    attempts: 0,
    ageFrom: now,
    updatedAt: now,
    notBefore: nowMs,
    result: undefined,
  };
}
