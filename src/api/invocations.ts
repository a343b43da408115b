import {
  type AsyncInvocation,
  INVOCATION_STATUSES,
  type InvocationStatus,
  WasmletError,
} from "../core/index.js";
import { sendJson } from "../http/index.js";
import type { InvocationQuery } from "../store/index.js";
import type { RecordsContext } from "./context.js";
import { askOtherNodes, failedReply, gatherAnswers, gathering, partial } from "./gather.js";
import { mergeInvocationLists } from "./gather-merge.js";
import { readJson } from "./http-util.js";

const MAX_LIST = 1000;

function status(v: unknown, field: string): InvocationStatus | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || !(INVOCATION_STATUSES as readonly string[]).includes(v))
    throw new WasmletError("INVALID_ARGUMENT", `${field}: must be one of ${INVOCATION_STATUSES.join(", ")}`);
  return v as InvocationStatus;
}

function text(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new WasmletError("INVALID_ARGUMENT", `${field}: must be a string`);
  return v;
}

type ListPage = { items: AsyncInvocation[]; counts: Record<InvocationStatus, number> };

function isListPage(v: unknown): v is ListPage {
  const p = v as ListPage | null;
  return typeof p === "object" && p !== null && Array.isArray(p.items) && typeof p.counts === "object";
}

/**
 * `GET /api/v1/invocations?function=&status=&limit=`: newest first, with the counts per status. On a cluster, of
 * every live node (each item names its node), and `partial`/`unreachable` say whose are missing.
 */
export async function listInvocations(ctx: RecordsContext): Promise<void> {
  const q = new URLSearchParams(ctx.rawQuery);
  const limitText = q.get("limit") ?? "100";
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIST)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `limit: "${limitText}" is not a whole number from 1 to ${MAX_LIST}`,
    );
  const fn = text(q.get("function"), "function");
  const st = status(q.get("status"), "status");
  const { store } = ctx.deps;
  const local = async (): Promise<ListPage> => ({
    items: await store.listInvocations({ function: fn, status: st, limit }),
    counts: await store.countInvocations(fn),
  });
  const peers = gathering(ctx);
  if (!peers) {
    sendJson(ctx.res, 200, await local());
    return;
  }
  const { answers, unreachable } = await gatherAnswers(
    peers,
    ctx.deps.token,
    { method: "GET", target: () => `/api/v1/invocations?${ctx.rawQuery}` },
    local,
    (b) => (isListPage(b) ? b : undefined),
  );
  sendJson(ctx.res, 200, { ...mergeInvocationLists(answers, limit), ...partial(unreachable) });
}

/**
 * `GET /api/v1/invocations/ID`: on a cluster, from whichever node holds it (marked with `node`); 404 only when
 * every node answered and none has it, 503 naming the nodes that did not answer otherwise.
 */
export async function getInvocation(ctx: RecordsContext): Promise<void> {
  const id = ctx.params[0];
  const inv = await ctx.deps.store.getInvocation(id);
  const peers = gathering(ctx);
  if (inv) {
    sendJson(ctx.res, 200, peers ? { ...inv, node: peers.self } : inv);
    return;
  }
  if (!peers) throw new WasmletError("NOT_FOUND", `invocation "${id}" not found`);
  const { replies, unreachable } = await askOtherNodes(
    peers,
    ctx.deps.token,
    "GET",
    () => `/api/v1/invocations/${encodeURIComponent(id)}`,
  );
  const found = replies.find((r) => r.status === 200 && typeof r.body === "object" && r.body !== null);
  if (found) {
    sendJson(ctx.res, 200, { ...(found.body as AsyncInvocation), node: found.node });
    return;
  }
  for (const r of replies) if (r.status !== 404) unreachable.push(failedReply(r));
  if (unreachable.length > 0)
    throw new WasmletError(
      "UNAVAILABLE",
      `invocation "${id}" not found on the nodes that answered; no answer from ${unreachable
        .map((u) => `${u.node} (${u.error})`)
        .join(", ")}`,
    );
  throw new WasmletError("NOT_FOUND", `invocation "${id}" not found on any node`);
}

async function query(ctx: RecordsContext): Promise<InvocationQuery> {
  const body = (await readJson(ctx.req)) as Record<string, unknown>;
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new WasmletError("INVALID_ARGUMENT", "body: must be a JSON object");
  for (const k of Object.keys(body))
    if (!["function", "id", "status"].includes(k))
      throw new WasmletError("INVALID_ARGUMENT", `${k}: unknown field`);
  return {
    function: text(body.function, "function"),
    id: text(body.id, "id"),
    status: status(body.status, "status"),
  };
}

/**
 * Runs `change` here and, on a cluster, on every other node (`POST path` with the same query); the counts summed
 * under `key`.
 */
async function everywhere<K extends string>(
  ctx: RecordsContext,
  path: string,
  key: K,
  q: InvocationQuery,
  change: (q: InvocationQuery) => Promise<number>,
): Promise<void> {
  const peers = gathering(ctx);
  if (!peers) {
    sendJson(ctx.res, 200, { [key]: await change(q) });
    return;
  }
  const { answers, unreachable } = await gatherAnswers(
    peers,
    ctx.deps.token,
    { method: "POST", target: () => path, body: q },
    () => change(q),
    (b) => {
      const n = (b as Record<string, unknown> | null)?.[key];
      return typeof n === "number" ? n : undefined;
    },
  );
  const total = answers.reduce((sum, a) => sum + a.value, 0);
  sendJson(ctx.res, 200, { [key]: total, ...partial(unreachable) });
}

/** `POST /api/v1/invocations/redrive {function?, id?}`: dead invocations run again (attempts and age reset), on every node. */
export async function redriveInvocations(ctx: RecordsContext): Promise<void> {
  const q = await query(ctx);
  if (q.function === undefined && q.id === undefined)
    throw new WasmletError("INVALID_ARGUMENT", "function: give a function or an id to redrive");
  await everywhere(ctx, "/api/v1/invocations/redrive", "redriven", q, (x) =>
    ctx.deps.store.redriveInvocations(x),
  );
}

/** `POST /api/v1/invocations/purge {function?, id?, status?}`: deletes finished (succeeded, dead) invocations, on every node. */
export async function purgeInvocations(ctx: RecordsContext): Promise<void> {
  await everywhere(ctx, "/api/v1/invocations/purge", "purged", await query(ctx), (x) =>
    ctx.deps.store.purgeInvocations(x),
  );
}
