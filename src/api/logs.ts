import { type LogEntry, WasmletError } from "../core/index.js";
import { sendJson } from "../http/index.js";
import { LOG_LIMIT_PER_FUNCTION, type Store } from "../store/index.js";
import type { RecordsContext } from "./context.js";
import { gatherAnswers, gathering, partial } from "./gather.js";
import { decodeCursor, mergeLogPages } from "./gather-merge.js";
import { functionOr404 } from "./lifecycle.js";

function nonNegativeInt(params: URLSearchParams, key: string, min: number): number | undefined {
  const raw = params.get(key);
  if (raw === null || raw === "") return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new WasmletError("INVALID_ARGUMENT", `${key}: must be an integer >= ${min}, got "${raw}"`);
  return Number(raw);
}

type LogPage = { items: LogEntry[]; dropped: number };

function isLogPage(v: unknown): v is LogPage {
  const p = v as LogPage | null;
  return typeof p === "object" && p !== null && Array.isArray(p.items) && typeof p.dropped === "number";
}

/** This node's page: the latest `limit` entries, or those after `afterId`; one invocation's when `invocation` is given. */
async function localPage(
  store: Store,
  name: string,
  o: { afterId?: number; limit?: number; invocation?: string },
): Promise<LogPage> {
  // One invocation: looked for among the function's kept records (at most LOG_LIMIT_PER_FUNCTION).
  const items = o.invocation
    ? (await store.readLogs(name, { afterId: o.afterId ?? 0, limit: LOG_LIMIT_PER_FUNCTION })).filter(
        (e) => e.invocationId === o.invocation,
      )
    : await store.readLogs(name, { afterId: o.afterId, limit: o.limit });
  // `dropped`: invocation records lost in all because the log writer fell behind (not among the items).
  return { items, dropped: await store.droppedLogs(name) };
}

/**
 * `GET /api/v1/functions/NAME/logs?limit=&after=&invocation=&cursor=`: the function's invocation records, oldest
 * first. On a cluster, of every live node: each entry names its node, `cursor` is where to go on from (`after` is
 * one node's id, so it is applied to every node only when no cursor is given), and `partial`/`unreachable` say
 * whose records are missing.
 */
export async function functionLogs(ctx: RecordsContext): Promise<void> {
  const name = ctx.params[0];
  const q = new URLSearchParams(ctx.rawQuery);
  const afterId = nonNegativeInt(q, "after", 0);
  const limit = nonNegativeInt(q, "limit", 1);
  const invocation = q.get("invocation") || undefined;
  const cursorText = q.get("cursor") || undefined;
  const { store } = ctx.deps;
  const peers = gathering(ctx);
  // A node asked by another for its own records skips the check: the asking node made it.
  if (peers || !ctx.deps.cluster) await functionOr404(store, name);
  if (!peers) {
    sendJson(ctx.res, 200, await localPage(store, name, { afterId, limit, invocation }));
    return;
  }
  const cursor = cursorText === undefined ? undefined : decodeCursor(cursorText);
  const from = (node: string) => (cursor ? (cursor[node] ?? 0) : afterId);
  const target = (node: string) => {
    const p = new URLSearchParams();
    const after = from(node);
    if (after !== undefined) p.set("after", String(after));
    if (limit !== undefined) p.set("limit", String(limit));
    if (invocation !== undefined) p.set("invocation", invocation);
    return `/api/v1/functions/${encodeURIComponent(name)}/logs?${p}`;
  };
  const { answers, unreachable } = await gatherAnswers(
    peers,
    ctx.deps.token,
    { method: "GET", target },
    () => localPage(store, name, { afterId: from(peers.self), limit, invocation }),
    (b) => (isLogPage(b) ? b : undefined),
  );
  const merged = mergeLogPages(answers, {
    limit,
    following: cursor !== undefined || afterId !== undefined,
    cursor,
  });
  sendJson(ctx.res, 200, { ...merged, ...partial(unreachable) });
}
