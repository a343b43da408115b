// GET /api/v1/nodes on the control port: the token, the listing, and the same 405 + Allow as /metrics.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, test } from "node:test";
import type { NodeInfo } from "../store/index.js";
import { listen } from "./listen.js";
import { METRICS_PATH, metricsFront, type ProcessMetrics } from "./metrics.js";
import { nodesFront } from "./nodes-front.js";

const node: NodeInfo = {
  id: "n1",
  role: "all",
  routerUrl: "http://127.0.0.1:1",
  controlUrl: "http://127.0.0.1:2",
  startedAt: new Date().toISOString(),
};

test("the nodes front lists the live nodes behind the token and refuses other methods with 405 and Allow", async () => {
  const fronts = [
    nodesFront({ list: async () => [node], token: "t0k" }),
    // Only the method check of /metrics is asked here: it answers before reading any metric.
    metricsFront({ own: undefined as unknown as ProcessMetrics, token: "t0k" }),
  ];
  const server = createServer((req, res) => {
    for (const f of fronts) if (f.handle(req, res)) return;
    res.writeHead(404).end();
  });
  after(() => server.close());
  const { port } = await listen(server, { host: "127.0.0.1", port: 0 });
  const url = (p: string) => `http://127.0.0.1:${port}${p}`;
  const auth = { authorization: "Bearer t0k" };

  assert.equal((await fetch(url("/api/v1/nodes"))).status, 401);
  const ok = await fetch(url("/api/v1/nodes"), { headers: auth });
  assert.equal(ok.status, 200);
  assert.deepEqual(
    ((await ok.json()) as { items: { id: string }[] }).items.map((n) => n.id),
    ["n1"],
  );

  for (const path of ["/api/v1/nodes", METRICS_PATH]) {
    const r = await fetch(url(path), { method: "POST", headers: auth });
    assert.equal(r.status, 405, path);
    assert.ok(r.headers.get("allow")?.includes("GET"), path);
    const body = (await r.json()) as { error: { message: string } };
    assert.match(body.error.message, new RegExp(`POST is not allowed on ${path}`));
  }
});
