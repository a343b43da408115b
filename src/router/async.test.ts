import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { DEFAULT_LIMITS, type FunctionRecord, type HttpTriggerRecord } from "../core/index.js";
import { MemoryStore, type Store } from "../store/index.js";
import { wantsAsync } from "./async.js";
import { Router } from "./router.js";

const digest = `sha256:${"1".repeat(64)}` as const;
const v = { version: 1, image: "r/f:v1", digest, createdAt: "" };
const fn: FunctionRecord = {
  name: "f",
  contract: "command",
  args: [],
  env: {},
  limits: { ...DEFAULT_LIMITS },
  current: v,
  versions: [v],
  createdAt: "",
  updatedAt: "",
};
const route = (name: string, path: string, async?: boolean): HttpTriggerRecord => ({
  name,
  function: "f",
  methods: ["POST"],
  match: "prefix",
  path,
  createdAt: "",
  ...(async ? { async } : {}),
});

test("wantsAsync: the route's flag, Prefer: respond-async (RFC 7240) or X-Wasmlet-Invoke-Mode: async", () => {
  const cases: [boolean, IncomingHttpHeaders, boolean][] = [
    [true, {}, true],
    [false, {}, false],
    [false, { prefer: "respond-async" }, true],
    [false, { prefer: "wait=10, respond-async" }, true],
    [false, { prefer: "return=minimal" }, false],
    [false, { prefer: "respond-asyncx" }, false],
    [false, { "x-wasmlet-invoke-mode": "ASYNC" }, true],
    [false, { "x-wasmlet-invoke-mode": "sync" }, false],
  ];
  for (const [flag, headers, want] of cases)
    assert.equal(wantsAsync(route("r", "/", flag), headers), want, JSON.stringify({ flag, headers }));
});

async function serve(store: Store) {
  const invoked: string[] = [];
  const router = new Router({
    store,
    invoker: {
      prepare: async () => {},
      invoke: async (_f, req) => {
        invoked.push(req.path);
        return { status: 200, headers: [], body: new Uint8Array(0) };
      },
    },
  });
  await store.create("function", "f", fn);
  await store.create("httptrigger", "a", route("a", "/a", true));
  await store.create("httptrigger", "s", route("s", "/s"));
  await router.start();
  const server = createServer(router.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, invoked, close: () => new Promise((r) => server.close(r)), router };
}

test("an asynchronous request is stored (with the route's match) before the 202, and not run by the router", async () => {
  const store = new MemoryStore();
  const s = await serve(store);
  try {
    const res = await fetch(`${s.base}/a/x?y=1`, {
      method: "POST",
      body: "job",
      headers: { "idempotency-key": "k" },
    });
    assert.equal(res.status, 202);
    const body = (await res.json()) as { id: string; status: string; location: string };
    assert.equal(res.headers.get("location"), body.location);
    assert.equal(body.location, `/api/v1/invocations/${body.id}`);
    const inv = await store.getInvocation(body.id);
    assert.equal(inv?.status, "pending");
    assert.equal(inv?.route, "a");
    assert.equal(inv?.idempotencyKey, "k");
    assert.deepEqual(inv?.request.route, { pattern: "/a/...", scriptName: "/a", pathInfo: "/x", params: {} });
    assert.equal(Buffer.from(inv?.request.body ?? "", "base64").toString(), "job");
    assert.deepEqual(s.invoked, [], "the runner in the serve process runs it, not the router");
    const sync = await fetch(`${s.base}/s/x`, { method: "POST", body: "now" });
    assert.equal(sync.status, 200);
    assert.deepEqual(s.invoked, ["/s/x"]);
  } finally {
    await s.close();
  }
});

test("an asynchronous request that cannot be stored is refused with 503 and Retry-After", async () => {
  const store = new MemoryStore();
  store.acceptInvocation = async () => {
    throw new Error("disk full");
  };
  const s = await serve(store);
  try {
    const res = await fetch(`${s.base}/a/x`, { method: "POST", body: "job" });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.match(await res.text(), /cannot store the invocation: disk full/);
  } finally {
    await s.close();
  }
});
