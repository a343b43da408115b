import { randomBytes } from "node:crypto";

/**
 * Invocation ids: `<process prefix>-<sequence in base 36>`. The prefix is random per process (so ids from the
 * router processes of `--workers`, and from before a restart, never collide); the sequence is a counter, so making
 * an id on the request path costs an increment, and the log keeps it as a number.
 */
export const INVOCATION_PREFIX = randomBytes(5).toString("hex");
let seq = 0;

/** The next invocation's sequence number in this process. */
export function nextInvocation(): number {
  return ++seq;
}

/** The id of invocation `n` of the process whose prefix is `prefix` (default: this one). */
export function invocationId(n: number, prefix = INVOCATION_PREFIX): string {
  return `${prefix}-${n.toString(36)}`;
}
