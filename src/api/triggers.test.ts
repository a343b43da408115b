import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiClient } from "../client/index.js";
import { isWasmletError } from "../core/index.js";
import { b64, type ControlPort, call, commandModule, startControlPort } from "./test-support.js";

let cp: ControlPort;
let api: ApiClient;
before(async () => {
  cp = await startControlPort();
  api = new ApiClient({ server: cp.url });
  await api.createFunction({ name: "echo", code: b64(commandModule("echo")) });
  await api.createFunction({ name: "other", code: b64(commandModule("other")) });
});
after(() => cp.close());

async function snapshot() {
  return { functions: await api.listFunctions(), routes: await api.listHttpTriggers() };
}

describe("HTTP triggers", () => {
  test("create, get, list (by name), delete", async () => {
    const r = await api.createHttpTrigger({
      name: "users",
      function: "echo",
      url: "/users/{id}",
      methods: ["GET", "PUT"],
    });
    assert.equal(r.match, "exact");
    assert.equal(r.path, "/users/{id}");
    assert.deepEqual(r.methods, ["GET", "PUT"]);
    const p = await api.createHttpTrigger({ name: "assets", function: "other", prefix: "/static/" });
    assert.equal(p.match, "prefix");
    assert.equal(p.path, "/static", "a prefix is stored without its trailing slash");
    assert.deepEqual(p.methods, ["GET"], "GET by default");
    assert.deepEqual(await api.getHttpTrigger("users"), r);
    assert.deepEqual(
      (await api.listHttpTriggers()).map((t) => t.name),
      ["assets", "users"],
    );
    await api.deleteHttpTrigger("assets");
    await assert.rejects(
      api.getHttpTrigger("assets"),
      (e) => isWasmletError(e, "NOT_FOUND") && /"assets"/.test(e.message),
    );
  });

  test("clashes are found after creates, deletes and re-creates, and through a direct store write", async () => {
    await api.createHttpTrigger({ name: "c1", function: "echo", url: "/clash/{a}" });
    await assert.rejects(api.createHttpTrigger({ name: "c2", function: "echo", url: "/clash/{b}" }), /c1/);
    await api.deleteHttpTrigger("c1");
    await api.createHttpTrigger({ name: "c2", function: "echo", url: "/clash/{b}" });
    await assert.rejects(api.createHttpTrigger({ name: "c3", function: "other", url: "/clash/{c}" }), /c2/);
    // A route written to the store by someone else (not through this API) is seen too.
    await cp.store.create("httptrigger", "c4", {
      name: "c4",
      function: "echo",
      methods: ["POST"],
      match: "prefix",
      path: "/by-store",
      createdAt: new Date().toISOString(),
    });
    await assert.rejects(
      api.createHttpTrigger({ name: "c5", function: "echo", prefix: "/by-store", methods: ["POST"] }),
      /c4/,
    );
    for (const n of ["c2", "c4"]) await api.deleteHttpTrigger(n);
  });

  test("same path with other methods, or other match kind, does not clash", async () => {
    await api.createHttpTrigger({
      name: "users-post",
      function: "other",
      url: "/users/{uid}",
      methods: ["POST"],
    });
    await api.createHttpTrigger({
      name: "users-tree",
      function: "other",
      prefix: "/users/{id}".replace("{id}", "x"),
    });
    await api.createHttpTrigger({ name: "users-prefix", function: "other", prefix: "/users" });
    assert.equal((await api.listHttpTriggers()).length, 4);
  });

  test("routes beside the reserved /healthz are accepted: prefix /, url /healthz/{x}, url /healthzs", async () => {
    const routes = [
      { name: "root", function: "echo", prefix: "/", methods: ["PATCH" as const] },
      { name: "under-healthz", function: "echo", url: "/healthz/{x}" },
      { name: "healthzs", function: "echo", url: "/healthzs" },
    ];
    for (const r of routes) assert.equal((await api.createHttpTrigger(r)).name, r.name);
    for (const r of routes) await api.deleteHttpTrigger(r.name);
  });

  test("a function with routes cannot be deleted; the message lists them", async () => {
    const before = await snapshot();
    const res = await call(cp.url, "DELETE", "/api/v1/functions/other");
    assert.equal(res.status, 409);
    assert.equal(res.json.error?.code, "CONFLICT");
    assert.match(res.json.error?.message ?? "", /users-post, users-prefix, users-tree/);
    assert.deepEqual(await snapshot(), before);
  });

  test("weighted routes: created, moved by PUT, their functions kept from deletion; bad weights refused", async () => {
    await api.createFunction({ name: "canary", code: b64(commandModule("canary")) });
    const r = await api.createHttpTrigger({
      name: "split",
      function: "echo",
      weights: { echo: 90, canary: 10 },
      url: "/split",
    });
    assert.deepEqual(r.weights, { echo: 90, canary: 10 });
    const del = await call(cp.url, "DELETE", "/api/v1/functions/canary");
    assert.equal(del.status, 409, "a function with a weight on a route is in use");
    assert.match(del.json.error?.message ?? "", /split/);
    const moved = await api.updateHttpTrigger("split", { weights: { echo: 0, canary: 100 } });
    assert.deepEqual(moved.weights, { echo: 0, canary: 100 });
    assert.equal(moved.function, "echo", "the stable side stays while it is weighted");
    const one = await api.updateHttpTrigger("split", { function: "canary", weights: null });
    assert.equal(one.function, "canary");
    assert.equal(one.weights, undefined);
    for (const [body, why] of [
      [{ weights: { echo: 0, canary: 0 } }, /weights: at least one weight must be above 0/],
      [{ weights: { echo: -1, canary: 5 } }, /weights\.echo: /],
      [{ weights: { echo: 1.5 } }, /weights\.echo: must be a whole number/],
      [
        { function: "echo", weights: { canary: 5 } },
        /function: "echo" must be one of the weighted functions/,
      ],
      [{ weights: { ghost: 5 } }, /weights\.ghost: function "ghost" not found/],
    ] as const) {
      const before = await api.getHttpTrigger("split");
      const res = await call(cp.url, "PUT", "/api/v1/triggers/http/split", body);
      assert.ok([400, 404].includes(res.status), `${JSON.stringify(body)} -> ${res.status}`);
      assert.match(res.json.error?.message ?? "", why);
      assert.deepEqual(await api.getHttpTrigger("split"), before, "nothing changed");
    }
    await api.deleteHttpTrigger("split");
    await api.deleteFunction("canary");
  });

  const bad: {
    what: string;
    body: Record<string, unknown>;
    status: number;
    code: string;
    message: RegExp;
  }[] = [
    {
      what: "route conflict (param names differ)",
      body: { name: "clash", function: "other", url: "/users/{x}", methods: ["PUT", "DELETE"] },
      status: 409,
      code: "CONFLICT",
      message: /^url: PUT \/users\/\{x\} is already routed by HTTP trigger "users"/,
    },
    {
      what: "prefix conflict (trailing slash)",
      body: { name: "clash2", function: "echo", prefix: "/users/" },
      status: 409,
      code: "CONFLICT",
      message: /HTTP trigger "users-prefix"/,
    },
    {
      what: "unknown function",
      body: { name: "r1", function: "nope", url: "/nope" },
      status: 404,
      code: "NOT_FOUND",
      message: /^function: function "nope" not found/,
    },
    {
      what: "duplicate name",
      body: { name: "users", function: "echo", url: "/elsewhere" },
      status: 409,
      code: "ALREADY_EXISTS",
      message: /^name: HTTP trigger "users" already exists/,
    },
    {
      what: "bad name",
      body: { name: "Bad Name", function: "echo", url: "/x" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^name: /,
    },
    {
      what: "path without /",
      body: { name: "r2", function: "echo", url: "x" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^url: must start with "\/"/,
    },
    {
      what: "dot-dot",
      body: { name: "r3", function: "echo", prefix: "/a/../b" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^prefix: must not contain "\." or "\.\." segments/,
    },
    {
      what: "param in prefix",
      body: { name: "r4", function: "echo", prefix: "/a/{id}" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^prefix: \{param\} segments are only allowed in url/,
    },
    {
      what: "half a param",
      body: { name: "r5", function: "echo", url: "/a/x{id}" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^url: segment "x\{id\}"/,
    },
    {
      what: "url on /healthz, which the router answers itself",
      body: { name: "r8", function: "echo", url: "/healthz" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message:
        /^url: \/healthz is reserved: the router answers it itself, so a route there is never reached$/,
    },
    {
      what: "prefix /healthz",
      body: { name: "r9", function: "echo", prefix: "/healthz" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^prefix: \/healthz is reserved/,
    },
    {
      what: "prefix /healthz/ (stored as /healthz)",
      body: { name: "r10", function: "echo", prefix: "/healthz/", methods: ["POST"] },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^prefix: \/healthz is reserved/,
    },
    {
      what: "url on the readiness probe /readyz",
      body: { name: "r11", function: "echo", url: "/readyz" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^url: \/readyz is reserved: the router answers it itself/,
    },
    {
      what: "prefix on the liveness probe /livez/",
      body: { name: "r12", function: "echo", prefix: "/livez/" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^prefix: \/livez is reserved/,
    },
    {
      what: "url and prefix",
      body: { name: "r6", function: "echo", url: "/a", prefix: "/b" },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^url: exactly one of url or prefix/,
    },
    {
      what: "unknown method",
      body: { name: "r7", function: "echo", url: "/a", methods: ["FETCH"] },
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^methods\[0\]: must be one of GET/,
    },
  ];
  for (const c of bad) {
    test(`bad input: ${c.what} → ${c.status} ${c.code}, nothing changes`, async () => {
      const before = await snapshot();
      const res = await call(cp.url, "POST", "/api/v1/triggers/http", c.body);
      assert.equal(res.status, c.status, JSON.stringify(res.json));
      assert.equal(res.json.error?.code, c.code);
      assert.match(res.json.error?.message ?? "", c.message);
      assert.deepEqual(await snapshot(), before);
    });
  }
});
