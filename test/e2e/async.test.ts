// Asynchronous invocations in the real server: 202 once stored, run from the durable queue, retried, redriven,
// and run after a kill -9 that came after the 202.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ApiClient } from "../../src/client/index.js";
import type { AsyncInvocation } from "../../src/core/index.js";
import { cli, example, fixture, type Server, show, startServer, waitFor } from "./harness.js";

let server: Server;
let api: ApiClient;
before(async () => {
  server = await startServer(undefined, ["--workers", "2"]);
  api = new ApiClient({ server: server.controlUrl });
  for (const args of [
    ["--name", "echo", "--code", example("wagi-echo/echo.wasm"), "--contract", "wagi"],
    ["--name", "fail", "--code", fixture("fail.wasm"), "--retries", "1", "--retry-backoff", "200ms"],
  ]) {
    const r = await cli(server, "fn", "create", ...args);
    assert.equal(r.code, 0, show(r));
  }
  for (const args of [
    ["--name", "ea", "--function", "echo", "--prefix", "/ea", "--method", "POST", "--async"],
    ["--name", "e", "--function", "echo", "--prefix", "/e", "--method", "POST"],
    ["--name", "fa", "--function", "fail", "--url", "/fa", "--method", "POST", "--async"],
  ]) {
    const r = await cli(server, "route", "create", ...args);
    assert.equal(r.code, 0, show(r));
  }
});
after(async () => {
  await server?.stop();
});

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.routerUrl}${path}`, { method: "POST", body, headers });
  return { res, text: await res.text() };
}

async function finished(client: ApiClient, id: string, ms = 10_000): Promise<AsyncInvocation> {
  return waitFor(
    async () => {
      const inv = await client.getInvocation(id);
      return inv.status === "succeeded" || inv.status === "dead" ? inv : undefined;
    },
    { ms, intervalMs: 50, what: () => `invocation ${id} did not finish` },
  );
}

test("an --async route answers 202 with Location once stored; the invocation runs and keeps its result", async () => {
  const { res, text } = await post("/ea/x?y=1", "hi");
  assert.equal(res.status, 202, text);
  const body = JSON.parse(text);
  assert.equal(res.headers.get("location"), `/api/v1/invocations/${body.id}`);
  assert.equal(body.status, "pending");
  const inv = await finished(api, body.id);
  assert.equal(inv.status, "succeeded");
  assert.equal(inv.attempts, 1);
  const out = Buffer.from(inv.result?.body ?? "", "base64").toString();
  assert.match(out, /path: \/x\n/);
  assert.match(out, /body: hi\n/);
  const r = await cli(server, "inv", "get", "--id", body.id);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /status: succeeded/);
  const logs = await waitFor(async () => {
    const l = (await api.readLogs("echo")).filter((e) => e.trigger?.kind === "async");
    return l.length > 0 ? l : undefined;
  });
  assert.equal(logs[0].trigger?.name, "ea");
});

test("Prefer: respond-async on any route; Idempotency-Key deduplicates; 413 over the async body limit", async () => {
  const sync = await post("/e/a", "now");
  assert.equal(sync.res.status, 200);
  const later = await post("/e/a", "later", { prefer: "respond-async, wait=0" });
  assert.equal(later.res.status, 202);
  assert.equal(later.res.headers.get("preference-applied"), "respond-async");
  const viaHeader = await post("/e/a", "later", { "x-wasmlet-invoke-mode": "async" });
  assert.equal(viaHeader.res.status, 202);
  const k1 = await post("/ea/k", "once", { "idempotency-key": "order-7" });
  const k2 = await post("/ea/k", "once", { "idempotency-key": "order-7" });
  assert.equal(JSON.parse(k2.text).id, JSON.parse(k1.text).id);
  assert.equal(JSON.parse(k2.text).duplicate, true);
  const big = await post("/ea/big", "x".repeat(1024 * 1024 + 1));
  assert.equal(big.res.status, 413);
  assert.match(big.text, /over the limit for asynchronous invocations of 1048576 bytes/);
});

test("a failing function is retried, then dead; redrive runs it again; purge removes finished ones", async () => {
  const { text } = await post("/fa", "job");
  const id = JSON.parse(text).id;
  const dead = await finished(api, id);
  assert.equal(dead.status, "dead");
  assert.equal(dead.attempts, 2, "1 attempt + 1 retry (fn create --retries 1)");
  assert.equal(dead.result?.status, 500);
  let r = await cli(server, "inv", "list", "--function", "fail", "--status", "dead");
  assert.match(r.stdout, new RegExp(`${id}\\s+fail\\s+dead\\s+2`));
  r = await cli(server, "inv", "redrive", "--function", "fail");
  assert.match(r.stdout, /^1 invocations redriven/);
  await waitFor(async () => ((await api.getInvocation(id)).attempts === 0 ? undefined : true));
  const again = await finished(api, id);
  assert.equal(again.status, "dead");
  assert.equal(again.attempts, 2);
  r = await cli(server, "inv", "purge", "--function", "fail");
  assert.match(r.stdout, /^1 invocations purged/);
  r = await cli(server, "inv", "get", "--id", id);
  assert.equal(r.code, 1);

  // Drained: every accepted invocation is succeeded or dead.
  await waitFor(async () => {
    const { counts } = await api.listInvocations();
    return counts.pending + counts.running === 0 ? true : undefined;
  });
});

test("kill -9 after the 202 (mid-run): the invocation runs after the restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-async-"));
  let s = await startServer(dir);
  try {
    for (const args of [
      ["fn", "create", "--name", "slow", "--code", fixture("sleep.wasm"), "--arg", "1500"],
      [
        "route",
        "create",
        "--name",
        "slow",
        "--function",
        "slow",
        "--url",
        "/slow",
        "--method",
        "POST",
        "--async",
      ],
    ]) {
      const r = await cli(s, ...args);
      assert.equal(r.code, 0, show(r));
    }
    const res = await fetch(`${s.routerUrl}/slow`, { method: "POST", body: "x" });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    let client = new ApiClient({ server: s.controlUrl });
    await waitFor(async () => ((await client.getInvocation(id)).status === "running" ? true : undefined), {
      intervalMs: 20,
    });
    await s.kill();
    s = await startServer(dir);
    client = new ApiClient({ server: s.controlUrl });
    const inv = await finished(client, id);
    assert.equal(inv.status, "succeeded");
    assert.equal(inv.attempts, 2, "the interrupted attempt, then the one after the restart");
    assert.equal(Buffer.from(inv.result?.body ?? "", "base64").toString(), "slept\n");
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
