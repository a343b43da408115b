import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ApiClient } from "../client/index.js";
import { isWasmletError } from "../core/index.js";
import { type ControlPort, call, closedPort, startControlPort } from "./test-support.js";

let cp: ControlPort;
before(async () => {
  cp = await startControlPort({ token: "s3cret" });
});
after(() => cp.close());

test("healthz answers without a token", async () => {
  assert.deepEqual(await call(cp.url, "GET", "/healthz"), { status: 200, json: { status: "ok" } });
});

test("every /api/v1 request needs the bearer token when one is set", async () => {
  for (const headers of [
    {} as Record<string, string>,
    { authorization: "Bearer wrong" },
    { authorization: "Basic s3cret" },
  ]) {
    const res = await call(cp.url, "GET", "/api/v1/functions", undefined, headers);
    assert.equal(res.status, 401);
    assert.equal(res.json.error?.code, "UNAUTHORIZED");
  }
  await assert.rejects(new ApiClient({ server: cp.url }).listFunctions(), (e) =>
    isWasmletError(e, "UNAUTHORIZED"),
  );
  assert.deepEqual(await new ApiClient({ server: cp.url, token: "s3cret" }).listFunctions(), []);
});

test("unknown path → 404, wrong method → 405 with Allow", async () => {
  const auth = { authorization: "Bearer s3cret" };
  const unknown = await call(cp.url, "GET", "/api/v1/nothing", undefined, auth);
  assert.equal(unknown.status, 404);
  assert.match(unknown.json.error?.message ?? "", /\/api\/v1\/nothing/);
  const res = await fetch(`${cp.url}/api/v1/triggers/http`, { method: "PATCH", headers: auth });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET, POST");
});

test("a JSON body over 64 MiB is refused with 413 from its declared length", async () => {
  const { request } = await import("node:http");
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${cp.url}/api/v1/functions`, {
      method: "POST",
      headers: { authorization: "Bearer s3cret", "content-length": String(65 * 1024 * 1024) },
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.write("{");
  });
  assert.equal(status, 413);
});

test("the client says where it could not connect", async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  await assert.rejects(
    new ApiClient({ server: url }).listFunctions(),
    (e) =>
      isWasmletError(e, "UNAVAILABLE") &&
      e.message === `cannot reach the wasmlet API at ${url} (is "wasmlet serve" running?)`,
  );
});
