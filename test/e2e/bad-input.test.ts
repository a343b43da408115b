// Bad input gets one clear line naming the problem, a non-zero exit, and leaves stored state as it was.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "./docker-registry.js";
import { cli, deploy, example, type Server, show, startServer } from "./harness.js";

let server: Server;
const tmp = (name: string, data: Uint8Array | string) => {
  const p = join(tmpdir(), `wasmlet-bad-${process.pid}-${name}`);
  writeFileSync(p, data);
  return p;
};

// (module (import "env" "magic" (func (result i32))) (memory (export "memory") 1) (func (export "_start") (drop (call 0))))
const ENV_IMPORT = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x00, 0x00,
  0x02, 0x0d, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x05, 0x6d, 0x61, 0x67, 0x69, 0x63, 0x00, 0x00, 0x03, 0x02, 0x01,
  0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x13, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
  0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x01, 0x0a, 0x07, 0x01, 0x05, 0x00, 0x10, 0x00, 0x1a, 0x0b,
]);

before(async () => {
  assert.ok(WebAssembly.validate(ENV_IMPORT), "fixture must be valid wasm");
  server = await startServer();
  await deploy(server, { name: "hello", code: example("hello/hello.wasm"), route: ["--url", "/hello"] });
});
after(async () => {
  await server?.stop();
});

async function state(): Promise<string> {
  const fns = await (await fetch(`${server.controlUrl}/api/v1/functions`)).json();
  const routes = await (await fetch(`${server.controlUrl}/api/v1/triggers/http`)).json();
  return JSON.stringify([fns, routes]);
}

const CASES: { name: string; args: () => string[]; message: RegExp }[] = [
  {
    name: "not a wasm file",
    args: () => ["fn", "create", "--name", "x", "--code", tmp("text.wasm", "hello, I am text\n")],
    message: /not a WebAssembly module/i,
  },
  {
    name: "wasm importing something other than WASI preview1",
    args: () => ["fn", "create", "--name", "x", "--code", tmp("env.wasm", ENV_IMPORT)],
    message: /env.*magic/,
  },
  {
    name: "a duplicate name",
    args: () => ["fn", "create", "--name", "hello", "--code", example("hello/hello.wasm")],
    message: /hello.*exists|exists.*hello/i,
  },
  { name: "an unknown function", args: () => ["fn", "get", "--name", "nope"], message: /nope/ },
  {
    name: "a route to an unknown function",
    args: () => ["route", "create", "--name", "r", "--function", "nope", "--url", "/r"],
    message: /nope/,
  },
  {
    name: "a name outside [a-z0-9-]",
    args: () => ["fn", "create", "--name", "Bad_Name", "--code", example("hello/hello.wasm")],
    message: /name.*Bad_Name|Bad_Name.*name/,
  },
  {
    name: "two routes with the same method and path",
    args: () => ["route", "create", "--name", "hello2", "--function", "hello", "--url", "/hello"],
    message: /hello/,
  },
  {
    name: "an image reference that does not resolve",
    args: () => ["fn", "create", "--name", "img", "--image", "127.0.0.1:1/nothing/here:v1"],
    message: /127\.0\.0\.1:1\/nothing\/here:v1/,
  },
];

for (const c of CASES) {
  test(`bad input: ${c.name}`, async () => {
    const before = await state();
    const r = await cli(server, ...c.args());
    assert.notEqual(r.code, 0, show(r));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
    assert.match(lines[0], /^error: /);
    assert.match(lines[0], c.message);
    assert.equal(await state(), before, "stored state changed");
  });
}

test("a request to no route is 404, and the existing route still serves", async () => {
  assert.equal((await fetch(`${server.routerUrl}/nowhere`)).status, 404);
  assert.equal((await fetch(`${server.routerUrl}/hello`)).status, 200);
});

test("CLI usage errors and --help", async () => {
  const help = await cli(undefined, "fn", "create", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--code/);
  const missing = await cli(server, "fn", "create", "--code", example("hello/hello.wasm"));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /name/);
  const closed = `http://127.0.0.1:${await freePort()}`;
  const down = await cli({ controlUrl: closed }, "fn", "list");
  assert.notEqual(down.code, 0);
  assert.ok(down.stderr.startsWith(`error: cannot reach the wasmlet API at ${closed}`), down.stderr);
});
