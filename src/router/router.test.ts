import assert from "node:assert/strict";
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { test } from "node:test";
import { DEFAULT_LIMITS, type FunctionRecord, type HttpTriggerRecord } from "../core/index.js";
import { MemoryStore } from "../store/index.js";
import { Router } from "./router.js";

const digest = `sha256:${"1".repeat(64)}` as const;
function fn(name: string, version = 1): FunctionRecord {
  const v = { version, image: `r/${name}:v${version}`, digest, createdAt: "" };
  return {
    name,
    contract: "command",
    args: [],
    env: {},
    limits: { ...DEFAULT_LIMITS },
    current: v,
    versions: [v],
    createdAt: "",
    updatedAt: "",
  };
}
function route(name: string, fnName: string, path: string): HttpTriggerRecord {
  return {
    name,
    function: fnName,
    methods: ["GET"],
    match: "exact",
    path,
    createdAt: new Date().toISOString(),
  };
}

test("a burst of store changes ends in the table the store describes, and deployed versions are prepared", async () => {
  const store = new MemoryStore();
  const prepared: string[] = [];
  const router = new Router({
    store,
    invoker: {
      prepare: async (f) => {
        prepared.push(`${f.name}@${f.current.version}`);
      },
      invoke: async () => ({ status: 200, headers: [], body: new Uint8Array(0) }),
    },
  });
  await router.start();
  await store.create("function", "a", fn("a"));
  for (let i = 0; i < 50; i++) await store.create("httptrigger", `r${i}`, route(`r${i}`, "a", `/r${i}`));
  for (let i = 0; i < 10; i++) await store.delete("httptrigger", `r${i}`);
  await store.update("function", "a", fn("a", 2));
  await store.create("httptrigger", "r0", route("r0", "a", "/again"));
  await router.settled();

  const table = router.routes;
  for (let i = 1; i < 10; i++) assert.deepEqual(table.lookup("GET", `/r${i}`), { status: 404 }, `/r${i}`);
  for (let i = 10; i < 50; i++) {
    const r = table.lookup("GET", `/r${i}`);
    assert.ok("match" in r && r.match.fn?.current.version === 2, `/r${i} serves version 2`);
  }
  assert.ok("match" in table.lookup("GET", "/again"));
  assert.ok(prepared.includes("a@2"), `prepared: ${prepared.join(", ")}`);
  router.stop();
});

test("a digest no function runs any more (deleted, or updated to another) is released, a shared one is not", async () => {
  const store = new MemoryStore();
  const released: string[] = [];
  const router = new Router({
    store,
    invoker: {
      prepare: async () => {},
      invoke: async () => ({ status: 200, headers: [], body: new Uint8Array(0) }),
      release: (d) => released.push(d),
    },
  });
  await router.start();
  const withDigest = (name: string, d: string): FunctionRecord => {
    const f = fn(name);
    f.current = { ...f.current, digest: d as FunctionRecord["current"]["digest"] };
    return f;
  };
  const [d1, d2, d3] = ["a", "b", "c"].map((c) => `sha256:${c.repeat(64)}`);
  await store.create("function", "x", withDigest("x", d1));
  await store.create("function", "y", withDigest("y", d1));
  await store.create("function", "z", withDigest("z", d2));
  await router.settled();
  await store.delete("function", "x");
  await router.settled();
  assert.deepEqual(released, [], "y still runs the digest x ran");
  await store.update("function", "z", withDigest("z", d3));
  await store.delete("function", "y");
  await router.settled();
  assert.deepEqual(released.sort(), [d1, d2].sort());
  router.stop();
});

test("start() warms the invoker up after preparing the routed functions; a failed warm-up is reported, not fatal", async () => {
  const store = new MemoryStore();
  await store.create("function", "a", fn("a"));
  await store.create("httptrigger", "r", route("r", "a", "/a"));
  const calls: string[] = [];
  const errors: unknown[] = [];
  const router = new Router({
    store,
    invoker: {
      prepare: async (f) => {
        calls.push(`prepare ${f.name}`);
      },
      warmUp: async () => {
        calls.push("warm-up");
        throw new Error("broken path");
      },
      invoke: async () => ({ status: 200, headers: [], body: new Uint8Array(0) }),
    },
    onWarmUpError: (e) => errors.push(e),
  });
  await router.start();
  assert.deepEqual(calls, ["prepare a", "warm-up"]);
  assert.match(String(errors[0]), /broken path/);
  assert.ok("match" in router.routes.lookup("GET", "/a"));
  router.stop();
});

test("request headers reach the function as they came: a header named constructor is just a header", async () => {
  const store = new MemoryStore();
  let seen: Record<string, string> | undefined;
  const router = new Router({
    store,
    invoker: {
      prepare: async () => {},
      invoke: async (_f, req) => {
        seen = req.headers;
        return { status: 200, headers: [], body: new Uint8Array(0) };
      },
    },
  });
  await router.start();
  await store.create("function", "a", fn("a"));
  await store.create("httptrigger", "r", route("r", "a", "/r"));
  await router.settled();
  const server = createServer(router.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const { port } = server.address() as AddressInfo;
    // A raw request: HTTP clients' own header objects may drop a header named __proto__.
    const sock = connect(port, "127.0.0.1");
    sock.write("GET /r HTTP/1.1\r\nHost: x\r\nconstructor: c\r\n__proto__: p\r\nx-a: 1\r\nX-A: 2\r\n\r\n");
    const head = await new Promise<string>((resolve) => sock.once("data", (d) => resolve(String(d))));
    sock.destroy();
    assert.match(head, /^HTTP\/1\.1 200/);
    const h = seen ?? {};
    assert.equal(Object.getOwnPropertyDescriptor(h, "constructor")?.value, "c");
    assert.equal(Object.getOwnPropertyDescriptor(h, "__proto__")?.value, "p");
    assert.equal(Object.getPrototypeOf(h), Object.prototype);
    assert.equal(h["x-a"], "1, 2");
    assert.ok(!Object.hasOwn(h, "toString"));
  } finally {
    server.close();
    router.stop();
  }
});
