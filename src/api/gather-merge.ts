import {
  type AsyncInvocation,
  INVOCATION_STATUSES,
  type InvocationStatus,
  type LogEntry,
  WasmletError,
} from "../core/index.js";

/**
 * Merging what the nodes of a cluster answered for one gathered read (their own invocation records and async
 * invocations, kept in each node's SQLite). Pure: the fan-out is gather.ts.
 */

/** One node's answer, under the node's id. */
export interface NodeAnswer<T> {
  node: string;
  value: T;
}

/** A node whose answer is missing from a gathered read, and why (refused, timed out, an error status). */
export interface Unreachable {
  node: string;
  error: string;
}

/**
 * Where `fn logs -f` goes on from, per node: the id of the last entry seen of each (ids are per node, so one id
 * means nothing across nodes). Sent back and forth as an opaque string (base64url of JSON).
 */
export type LogCursor = Readonly<Record<string, number>>;

export function encodeCursor(cursor: LogCursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

/** The cursor a page gave, or INVALID_ARGUMENT naming `cursor`. */
export function decodeCursor(text: string): LogCursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    v = undefined;
  }
  if (
    typeof v !== "object" ||
    v === null ||
    Array.isArray(v) ||
    !Object.values(v).every((id) => Number.isSafeInteger(id) && (id as number) >= 0)
  )
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "cursor: not a cursor this API gave (pass a page's `cursor` as is)",
    );
  return v as LogCursor;
}

/** Entries by time, oldest first; equal times in a stable order (node, then id). */
function byTime(a: LogEntry & { node: string }, b: LogEntry & { node: string }): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return a.id - b.id;
}

/**
 * The log pages of every node as one, oldest first, each entry marked with its node. Without a cursor (the
 * latest entries) the newest `limit` of them all; with one (following), every entry the nodes gave — each gave at
 * most `limit` after its own position, and cutting across nodes would skip entries a node will not send again.
 * The next cursor is each node's last id (or its previous position when it sent nothing or did not answer).
 */
export function mergeLogPages(
  answers: readonly NodeAnswer<{ items: LogEntry[]; dropped: number }>[],
  opts: { limit?: number; following: boolean; cursor?: LogCursor },
): { items: (LogEntry & { node: string })[]; dropped: number; cursor: string } {
  const next: Record<string, number> = { ...opts.cursor };
  let dropped = 0;
  const all: (LogEntry & { node: string })[] = [];
  for (const { node, value } of answers) {
    dropped += value.dropped;
    next[node] ??= 0;
    for (const e of value.items) {
      all.push({ ...e, node });
      next[node] = Math.max(next[node] ?? 0, e.id);
    }
  }
  all.sort(byTime);
  const items = opts.following || opts.limit === undefined ? all : all.slice(-opts.limit);
  return { items, dropped, cursor: encodeCursor(next) };
}

/**
 * The invocation lists of every node as one: newest accepted first, each marked with its node, at most `limit`
 * (each node gave its own newest `limit`, so the newest `limit` of all are among them); the counts summed.
 */
export function mergeInvocationLists(
  answers: readonly NodeAnswer<{ items: AsyncInvocation[]; counts: Record<InvocationStatus, number> }>[],
  limit: number,
): { items: (AsyncInvocation & { node: string })[]; counts: Record<InvocationStatus, number> } {
  const counts = Object.fromEntries(INVOCATION_STATUSES.map((s) => [s, 0])) as Record<
    InvocationStatus,
    number
  >;
  const all: (AsyncInvocation & { node: string })[] = [];
  for (const { node, value } of answers) {
    for (const s of INVOCATION_STATUSES) counts[s] += value.counts[s] ?? 0;
    for (const inv of value.items) all.push({ ...inv, node });
  }
  all.sort((a, b) =>
    a.acceptedAt !== b.acceptedAt ? (a.acceptedAt > b.acceptedAt ? -1 : 1) : a.id < b.id ? -1 : 1,
  );
  return { items: all.slice(0, limit), counts };
}
