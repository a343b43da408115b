// Gathering over real control ports: each "node" is the records API on its own listener and store (its SQLite
// on a real cluster), the node list is given as the etcd leases would give it (test/e2e/cluster-gather.test.ts
// runs the same over real etcd and serve processes).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { AsyncInvocation, FunctionRecord } from "../core/index.js";
import { MemoryStore, type NodeInfo } from "../store/index.js";
import { controlListener } from "./control.js";
import { LOCAL_SCOPE, SCOPE_HEADER } from "./gather.js";
import { createRecordsHandler } from "./handler.js";
import { call, closedPort } from "./test-support.js";

const TOKEN = "t0ken";
const auth = { authorization: `Bearer ${TOKEN}` };

function inv(id: string, acceptedAt: string, status: AsyncInvocation["status"]): AsyncInvocation {
  return {
    id,
    function: "f",
    status,
    request: { method: "POST", url: "/f", headers: {}, body: "" },
    attempts: 1,
    acceptedAt,
    ageFrom: acceptedAt,
    updatedAt: acceptedAt,
    notBefore: 0,
  };
}

interface TestNode {
  info: NodeInfo;
  store: MemoryStore;
  server: Server;
}

const nodes: TestNode[] = [];
let list: NodeInfo[] = [];

async function startNode(id: string): Promise<TestNode> {
  const store = new MemoryStore();
  // The function itself is in the shared store on a cluster; here each node's store has it.
  await store.create("function", "f", { name: "f" } as FunctionRecord);
  const api = createRecordsHandler({
    store,
    token: TOKEN,
    cluster: { self: id, nodes: async () => list, timeoutMs: 1000 },
  });
  const server = createServer(controlListener({ api: () => api }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const info = { id, role: "router", routerUrl: "", controlUrl: url, startedAt: "" };
  return { info, store, server };
}

before(async () => {
  nodes.push(await startNode("a"), await startNode("b"));
  const [a, b] = nodes;
  await a.store.acceptInvocation(inv("a-1", "2026-01-01T00:00:01Z", "succeeded"));
  await b.store.acceptInvocation(inv("b-1", "2026-01-01T00:00:02Z", "dead"));
  await b.store.acceptInvocation(inv("b-2", "2026-01-01T00:00:03Z", "succeeded"));
  const log = (time: string, stderr: string) => ({
    function: "f",
    time,
    status: 200,
    durationMs: 1,
    digest: "sha256:00",
    stderr,
  });
  await a.store.appendLogs([log("2026-01-01T00:00:01Z", "from a"), log("2026-01-01T00:00:04Z", "a again")]);
  await b.store.appendLogs([log("2026-01-01T00:00:02Z", "from b")]);
  // A third node whose lease is still alive but whose process is gone.
  const dead = {
    id: "c",
    role: "all",
    routerUrl: "",
    controlUrl: `http://127.0.0.1:${await closedPort()}`,
    startedAt: "",
  };
  list = [a.info, b.info, dead];
});

after(async () => {
  for (const n of nodes) {
    n.server.closeAllConnections();
    await new Promise((r) => n.server.close(r));
  }
});

test("inv list through one node shows every node's invocations and names the node that did not answer", async () => {
  const r = await call(nodes[0].info.controlUrl, "GET", "/api/v1/invocations", undefined, auth);
  assert.equal(r.status, 200);
  assert.deepEqual(
    (r.json.items as AsyncInvocation[]).map((i) => [i.id, i.node]),
    [
      ["b-2", "b"],
      ["b-1", "b"],
      ["a-1", "a"],
    ],
  );
  assert.deepEqual(r.json.counts, { pending: 0, running: 0, succeeded: 2, dead: 1 });
  assert.equal(r.json.partial, true);
  const missing = r.json.unreachable as { node: string; error: string }[];
  assert.deepEqual(
    missing.map((u) => u.node),
    ["c"],
  );
  assert.match(missing[0].error, /ECONNREFUSED/);
  // The limit holds over the merged list.
  const one = await call(nodes[0].info.controlUrl, "GET", "/api/v1/invocations?limit=1", undefined, auth);
  assert.deepEqual(
    (one.json.items as AsyncInvocation[]).map((i) => i.id),
    ["b-2"],
  );
});

test("asked for its own records only, a node answers them without asking the others", async () => {
  const r = await call(nodes[1].info.controlUrl, "GET", "/api/v1/invocations", undefined, {
    ...auth,
    [SCOPE_HEADER]: LOCAL_SCOPE,
  });
  assert.deepEqual(
    (r.json.items as AsyncInvocation[]).map((i) => i.id),
    ["b-2", "b-1"],
  );
  assert.equal(r.json.partial, undefined, "no gathering, no partial flag");
  assert.equal((r.json.items as AsyncInvocation[])[0].node, undefined);
});

test("inv get finds an invocation on the node that holds it; not found is 503 while a node is unreachable, else 404", async () => {
  const found = await call(nodes[0].info.controlUrl, "GET", "/api/v1/invocations/b-1", undefined, auth);
  assert.equal(found.status, 200);
  assert.equal(found.json.id, "b-1");
  assert.equal(found.json.node, "b");
  const unsure = await call(nodes[0].info.controlUrl, "GET", "/api/v1/invocations/zz", undefined, auth);
  assert.equal(unsure.status, 503);
  assert.match(
    unsure.json.error?.message ?? "",
    /"zz" not found on the nodes that answered; no answer from c \(/,
  );
  const saved = list;
  list = list.slice(0, 2);
  try {
    const none = await call(nodes[0].info.controlUrl, "GET", "/api/v1/invocations/zz", undefined, auth);
    assert.equal(none.status, 404);
    assert.match(none.json.error?.message ?? "", /"zz" not found on any node/);
  } finally {
    list = saved;
  }
});

test("fn logs through one node: every node's entries by time with their node, and a cursor to follow from", async () => {
  const r = await call(nodes[1].info.controlUrl, "GET", "/api/v1/functions/f/logs?limit=10", undefined, auth);
  assert.equal(r.status, 200);
  const items = r.json.items as { node: string; stderr: string }[];
  assert.deepEqual(
    items.map((e) => [e.node, e.stderr]),
    [
      ["a", "from a"],
      ["b", "from b"],
      ["a", "a again"],
    ],
  );
  assert.equal(r.json.partial, true);
  await nodes[1].store.appendLogs([
    {
      function: "f",
      time: "2026-01-01T00:00:09Z",
      status: 500,
      durationMs: 1,
      digest: "sha256:00",
      stderr: "new",
    },
  ]);
  const next = await call(
    nodes[1].info.controlUrl,
    "GET",
    `/api/v1/functions/f/logs?cursor=${r.json.cursor}&limit=1000`,
    undefined,
    auth,
  );
  assert.deepEqual(
    (next.json.items as { node: string; stderr: string }[]).map((e) => [e.node, e.stderr]),
    [["b", "new"]],
    "only what came after the cursor, on every node",
  );
  const missing = await call(nodes[1].info.controlUrl, "GET", "/api/v1/functions/g/logs", undefined, auth);
  assert.equal(missing.status, 404);
});

test("redrive and purge run on every node; the count is the sum", async () => {
  const r = await call(
    nodes[0].info.controlUrl,
    "POST",
    "/api/v1/invocations/redrive",
    { function: "f" },
    auth,
  );
  assert.equal(r.status, 200);
  assert.equal(r.json.redriven, 1, "b's dead invocation, redriven from a");
  assert.equal((await nodes[1].store.getInvocation("b-1"))?.status, "pending");
  const p = await call(
    nodes[0].info.controlUrl,
    "POST",
    "/api/v1/invocations/purge",
    { status: "succeeded" },
    auth,
  );
  assert.equal(p.json.purged, 2);
  assert.equal(p.json.partial, true);
});

test("the records API needs the token; other API paths on a router node say where the API is", async () => {
  const r = await call(nodes[0].info.controlUrl, "GET", "/api/v1/invocations");
  assert.equal(r.status, 401);
  const other = await call(nodes[0].info.controlUrl, "GET", "/api/v1/functions", undefined, auth);
  assert.equal(other.status, 404);
  assert.match(other.json.error?.message ?? "", /--role router: only invocation records and logs here/);
});
