// The README's quick start, end to end: real server process, real CLI, real HTTP.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cli, deploy, example, type Server, show, startServer, waitFor } from "./harness.js";

let server: Server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

test("fn create + fn test runs hello.wasm like the crun pod `hello.wasm 20000`", async () => {
  const created = await cli(
    server,
    "fn",
    "create",
    "--name",
    "hello",
    "--code",
    example("hello/hello.wasm"),
    "--arg",
    "20000",
  );
  assert.equal(created.code, 0, show(created));
  const r = await cli(server, "fn", "test", "--name", "hello");
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout, "hello\n20000\n");
});

test("a wagi function behind a prefix route answers curl, and its invocations are logged", async () => {
  await deploy(server, {
    name: "echo",
    code: example("wagi-echo/echo.wasm"),
    args: ["--contract", "wagi", "--env", "GREETING=hi"],
    route: ["--prefix", "/echo", "--method", "GET", "--method", "POST"],
  });

  const res = await fetch(`${server.routerUrl}/echo/x?y=1`, { method: "POST", body: "abc" });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  assert.equal(text, "hi from wasmlet\nmethod: POST\npath: /x\nquery: y=1\nbody: abc\n");

  const logs = await waitFor(async () => {
    const l = await cli(server, "fn", "logs", "--name", "echo");
    return l.code === 0 && /\b200\b/.test(l.stdout) ? l : undefined;
  });
  assert.match(logs.stdout, /200/);
});

test("fn list / get / update / delete and route list / delete", async () => {
  const list = await cli(server, "fn", "list");
  assert.equal(list.code, 0, show(list));
  assert.match(list.stdout, /hello/);
  assert.match(list.stdout, /echo/);

  const get = await cli(server, "fn", "get", "--name", "hello", "-o", "json");
  assert.equal(get.code, 0, show(get));
  const before = JSON.parse(get.stdout);
  assert.equal(before.current.version, 1);

  const upd = await cli(server, "fn", "update", "--name", "hello", "--code", example("as-hello/hello.wasm"));
  assert.equal(upd.code, 0, show(upd));
  const after = JSON.parse((await cli(server, "fn", "get", "--name", "hello", "-o", "json")).stdout);
  assert.equal(after.current.version, 2);
  assert.notEqual(after.current.digest, before.current.digest);
  const t = await cli(server, "fn", "test", "--name", "hello");
  assert.equal(t.stdout, "hello from AssemblyScript\n20000\n", show(t));

  const routes = await cli(server, "route", "list");
  assert.match(routes.stdout, /echo/);
  const rd = await cli(server, "route", "delete", "--name", "echo");
  assert.equal(rd.code, 0, show(rd));
  assert.doesNotMatch((await cli(server, "route", "list")).stdout, /\becho\b/);
  const res = await fetch(`${server.routerUrl}/echo/x`);
  assert.equal(res.status, 404);

  const del = await cli(server, "fn", "delete", "--name", "echo");
  assert.equal(del.code, 0, show(del));
  const gone = await cli(server, "fn", "get", "--name", "echo");
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /^error: .*echo/);
});

test("a route serves within 100 ms of the API call that made it", async () => {
  const c = await cli(server, "fn", "create", "--name", "quick", "--code", example("hello/hello.wasm"));
  assert.equal(c.code, 0, show(c));
  const started = await fetch(`${server.controlUrl}/api/v1/triggers/http`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "quick", function: "quick", url: "/quick" }),
  });
  assert.equal(started.status, 201, await started.text());
  const t0 = Date.now();
  let status = 0;
  while (Date.now() - t0 < 100) {
    status = (await fetch(`${server.routerUrl}/quick`)).status;
    if (status === 200) break;
  }
  assert.equal(status, 200, "route did not serve within 100 ms");
});
