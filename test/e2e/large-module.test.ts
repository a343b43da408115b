// A large module (4 MiB and more) through a real server: created with the CLI as a multipart upload, compiled and
// its layer made as it arrives and staged in the registry's data directory, its check's compiled form run; a module
// V8 refuses is a 400 naming V8's reason, and no failure leaves a staged file behind.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { largeCommand, largeCommandInvalidAt, multipartBody } from "../../src/api/test-support.js";
import { customSection } from "../../src/core/test-support.js";
import { buildImage } from "../../src/registry/index.js";
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

test("a large module is refused for an invalid function anywhere in its code, not only its first", async () => {
  // The code section (4 MiB of 1,500 functions) arrives in many pieces; function #900 is in none of the first.
  const file = join(tmpdir(), `wasmlet-large-bad-late-${process.pid}.wasm`);
  files.push(file);
  writeFileSync(file, largeCommandInvalidAt(900));
  const c = await cli(server, "fn", "create", "--name", "bad-late", "--code", file);
  assert.notEqual(c.code, 0, show(c));
  assert.match(
    c.stderr,
    /code: not a WebAssembly module: the binary is invalid \(Compiling function #900 failed/,
  );
  const g = await cli(server, "fn", "get", "--name", "bad-late");
  assert.notEqual(g.code, 0, "not stored");
  // The same module with that function valid is taken.
  writeFileSync(file, largeCommandInvalidAt(-1));
  const ok = await cli(server, "fn", "create", "--name", "good-late", "--code", file);
  assert.equal(ok.code, 0, show(ok));
});

/** Sends a function's multipart body by hand, with its Content-Length, in pieces; `cutAt` ends the connection there. */
async function upload(
  path: string,
  fields: unknown,
  module: Uint8Array,
  opts: { method?: string; finalCrlf?: boolean; cutAt?: number } = {},
): Promise<{ status: number; body: string } | undefined> {
  const boundary = `e2e-${process.pid}`;
  const whole = multipartBody(boundary, [
    ["function", JSON.stringify(fields)],
    ["code", module],
  ]);
  // Without the CRLF after the last delimiter, as some clients end a body.
  const body = opts.finalCrlf === false ? whole.subarray(0, whole.length - 2) : whole;
  const url = new URL(`/api/v1${path}`, server.controlUrl);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: opts.method ?? "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": body.length },
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d) => {
        text += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", (e) => (opts.cutAt !== undefined ? resolve(undefined) : reject(e)));
    void (async () => {
      const step = 512 * 1024;
      for (let at = 0; at < body.length; at += step) {
        if (opts.cutAt !== undefined && at >= opts.cutAt) {
          req.destroy();
          resolve(undefined);
          return;
        }
        req.write(body.subarray(at, at + step));
        await new Promise((r) => setTimeout(r, 1));
      }
      req.end();
    })();
  });
}

const waitUnstaged = async () => {
  for (let i = 0; i < 100 && staged().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(staged(), []);
};

test("the image a large upload gets, made as it arrives, is the one buildImage makes of the module (any body ending); failures leave nothing staged", async () => {
  const module = largeCommand([0x00, 0x0b]);
  const expected = (await buildImage({ files: new Map([["/m.wasm", module]]), entry: "/m.wasm" }))
    .manifestDigest;
  for (const [name, finalCrlf] of [
    ["early1", true],
    ["early2", false],
  ] as const) {
    const res = await upload("/functions", { name, fileName: "m.wasm" }, module, { finalCrlf });
    assert.equal(res?.status, 201, res?.body);
    assert.equal(JSON.parse(res?.body ?? "{}").current.digest, expected, name);
  }
  // A new version the same way; the update's name is the URL's.
  const v2 = largeCommand([0x00, 0x01, 0x0b]);
  const expected2 = (await buildImage({ files: new Map([["/early1.wasm", v2]]), entry: "/early1.wasm" }))
    .manifestDigest;
  const updated = await upload("/functions/early1", {}, v2, { method: "PUT" });
  assert.equal(updated?.status, 200, updated?.body);
  assert.equal(JSON.parse(updated?.body ?? "{}").current.digest, expected2);
  const r = await cli(
    server,
    "route",
    "create",
    "--name",
    "early1",
    "--function",
    "early1",
    "--url",
    "/early1",
  );
  assert.equal(r.code, 0, show(r));
  assert.equal((await fetch(`${server.routerUrl}/early1`)).status, 200);
  // Refused after the upload (the name is taken), cut off in the middle, or with a module V8 refuses.
  const taken = await upload("/functions", { name: "early1" }, module);
  assert.equal(taken?.status, 409, taken?.body);
  await upload("/functions", { name: "cut" }, module, { cutAt: 2 * 1024 * 1024 });
  const refused = await upload("/functions", { name: "refused" }, largeCommand([0x00, 0x6a, 0x0b]));
  assert.equal(refused?.status, 400, refused?.body);
  await waitUnstaged();
  assert.notEqual((await cli(server, "fn", "get", "--name", "cut")).code, 0, "not stored");
});
