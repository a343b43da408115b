// A large module (4 MiB and more) through a real server: created with the CLI as a multipart upload, its layer made
// on the layer threads and staged in the registry's data directory, its check's compiled form run; a module V8
// refuses is a 400 naming V8's reason, and neither leaves a staged file behind.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { largeCommand } from "../../src/api/test-support.js";
import { customSection } from "../../src/core/test-support.js";
import { cli, example, type Server, show, startServer } from "./harness.js";

let server: Server;
before(async () => {
  server = await startServer();
});
const files: string[] = [];
after(async () => {
  for (const f of files) rmSync(f, { force: true });
  await server?.stop();
});

const staged = () =>
  readdirSync(join(server.dataDir, "registry", "tmp")).filter((f) => f.startsWith("layer-"));

test("a 5 MiB command is created, routed and answers; nothing is left staged", async () => {
  const file = join(tmpdir(), `wasmlet-large-${process.pid}.wasm`);
  files.push(file);
  writeFileSync(
    file,
    Buffer.concat([
      readFileSync(example("hello/hello.wasm")),
      customSection("pad", new Uint8Array(5 * 1024 * 1024)),
    ]),
  );
  const c = await cli(server, "fn", "create", "--name", "big", "--code", file, "--arg", "7");
  assert.equal(c.code, 0, show(c));
  const r = await cli(server, "route", "create", "--name", "big", "--function", "big", "--url", "/big");
  assert.equal(r.code, 0, show(r));
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${server.routerUrl}/big`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello\n7\n");
  }
  assert.deepEqual(staged(), []);
});

test("a large module V8 refuses is a 400 naming V8's reason; nothing stored, nothing left staged", async () => {
  const file = join(tmpdir(), `wasmlet-large-bad-${process.pid}.wasm`);
  files.push(file);
  writeFileSync(file, largeCommand([0x00, 0x6a, 0x0b]));
  const c = await cli(server, "fn", "create", "--name", "bad", "--code", file);
  assert.notEqual(c.code, 0);
  assert.match(
    c.stderr,
    /code: not a WebAssembly module: the binary is invalid \(Compiling function #0 failed/,
  );
  const g = await cli(server, "fn", "get", "--name", "bad");
  assert.notEqual(g.code, 0, "not stored");
  // The image was being built meanwhile: its staged layer goes once the build is done.
  for (let i = 0; i < 50 && staged().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(staged(), []);
});
