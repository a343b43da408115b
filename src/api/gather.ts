import type { IncomingMessage } from "node:http";
import type { NodeInfo } from "../store/index.js";
import type { RecordsContext } from "./context.js";
import type { Unreachable } from "./gather-merge.js";

/**
 * Gathering a cluster's invocation records and async invocations: on etcd each node keeps its own in its SQLite
 * (a raft write per invocation would be write amplification), so the node that takes an API read asks every other
 * live node for its local records, in parallel, and merges them (gather-merge.ts).
 */

/** The header that asks a node for its own records only: what gathering sends, so no node fans out again. */
export const SCOPE_HEADER = "x-wasmlet-scope";
export const LOCAL_SCOPE = "local";
/** How long a gathered read waits for one node before it counts it unreachable. */
export const DEFAULT_PEER_TIMEOUT_MS = 2000;

/** The nodes a gathered read asks: wired by serve on etcd; absent on SQLite (one node, nothing to gather). */
export interface ClusterPeers {
  /** This node's id in the node list (its own records are read from its store, not over HTTP). */
  self: string;
  /** The live nodes (their etcd leases), read once per gathered request. */
  nodes(): Promise<NodeInfo[]>;
  /** Per node; default DEFAULT_PEER_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** Whether the request asks for this node's records only (sent by another node gathering). */
export function localOnly(req: IncomingMessage): boolean {
  return req.headers[SCOPE_HEADER] === LOCAL_SCOPE;
}

/** The peers to gather from: none on SQLite, and none when another node asks for this node's records only. */
export function gathering(ctx: RecordsContext): ClusterPeers | undefined {
  return localOnly(ctx.req) ? undefined : ctx.deps.cluster;
}

/** What a gathered answer adds: whether some node's records are missing, and which nodes and why. */
export function partial(unreachable: Unreachable[]): { partial: boolean; unreachable: Unreachable[] } {
  return { partial: unreachable.length > 0, unreachable };
}

/** What another node answered: its status and JSON body. */
export interface PeerReply {
  node: string;
  status: number;
  body: unknown;
}

/** The message of Wasmlet's error envelope, or the status alone. */
function errorOf(status: number, body: unknown): string {
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === "string" ? `${status}: ${message}` : `answered ${status}`;
}

/** A reply that is not 2xx counted as the node's failure to answer. */
export function failedReply(r: PeerReply): Unreachable {
  return { node: r.node, error: errorOf(r.status, r.body) };
}

const UNSPECIFIED = new Set(["0.0.0.0", "[::]"]);

async function askOne(
  node: NodeInfo,
  target: string,
  init: { method: string; body?: unknown; token?: string; timeoutMs: number },
): Promise<PeerReply> {
  const base = new URL(node.controlUrl);
  if (UNSPECIFIED.has(base.hostname))
    throw new Error(
      `it advertises ${node.controlUrl}, which no other node can reach: start it with a --control address the others reach`,
    );
  const headers: Record<string, string> = { [SCOPE_HEADER]: LOCAL_SCOPE };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(target, base), {
    method: init.method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(init.timeoutMs),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { node: node.id, status: res.status, body };
}

function reason(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError"))
    return `no answer within ${timeoutMs} ms`;
  const cause = e instanceof Error ? (e.cause as { code?: string; message?: string } | undefined) : undefined;
  // undici's "fetch failed" says nothing; its cause ("connect ECONNREFUSED 127.0.0.2:8081") says what failed.
  if (cause?.message || cause?.code) return cause.message || String(cause.code);
  return e instanceof Error ? e.message : String(e);
}

/**
 * Sends one request to every live node but this one, in parallel, each with its own timeout; `target(node)` is
 * the path and query for that node. Resolves with the replies (any status) and the nodes that did not answer. A
 * node list that cannot be read makes every other node unreachable under the name "(node list)".
 */
export async function askOtherNodes(
  peers: ClusterPeers,
  token: string | undefined,
  method: string,
  target: (node: string) => string,
  body?: unknown,
): Promise<{ replies: PeerReply[]; unreachable: Unreachable[] }> {
  const timeoutMs = peers.timeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
  let nodes: NodeInfo[];
  try {
    nodes = (await peers.nodes()).filter((n) => n.id !== peers.self);
  } catch (e) {
    return {
      replies: [],
      unreachable: [{ node: "(node list)", error: `cannot list the nodes: ${reason(e, timeoutMs)}` }],
    };
  }
  const settled = await Promise.allSettled(
    nodes.map((n) => askOne(n, target(n.id), { method, body, token, timeoutMs })),
  );
  const replies: PeerReply[] = [];
  const unreachable: Unreachable[] = [];
  settled.forEach((s, i) => {
    if (s.status === "fulfilled") replies.push(s.value);
    else unreachable.push({ node: nodes[i].id, error: reason(s.reason, timeoutMs) });
  });
  return { replies, unreachable };
}

/**
 * This node's answer (`local()`) and every other live node's (`askOtherNodes`), in parallel: each other node's
 * body that `read` takes from a 200 becomes an answer; a node whose reply it does not take, or that did not
 * answer, is unreachable.
 */
export async function gatherAnswers<T>(
  peers: ClusterPeers,
  token: string | undefined,
  request: { method: string; target: (node: string) => string; body?: unknown },
  local: () => Promise<T>,
  read: (body: unknown) => T | undefined,
): Promise<{ answers: { node: string; value: T }[]; unreachable: Unreachable[] }> {
  const [own, others] = await Promise.all([
    local(),
    askOtherNodes(peers, token, request.method, request.target, request.body),
  ]);
  const answers: { node: string; value: T }[] = [{ node: peers.self, value: own }];
  const unreachable = [...others.unreachable];
  for (const r of others.replies) {
    const value = r.status === 200 ? read(r.body) : undefined;
    if (value === undefined) unreachable.push(failedReply(r));
    else answers.push({ node: r.node, value });
  }
  return { answers, unreachable };
}
