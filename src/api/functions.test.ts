import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { ApiClient } from "../client/index.js";
import { DEFAULT_LIMITS, type FunctionRecord, isWasmletError } from "../core/index.js";
import { buildImage } from "../registry/index.js";
import {
  b64,
  type ControlPort,
  call,
  closedPort,
  commandModule,
  envImportModule,
  largeCommand,
  multipartBody,
  startControlPort,
  wat,
} from "./test-support.js";

let cp: ControlPort;
let api: ApiClient;
let deadPort = 0;
before(async () => {
  deadPort = await closedPort();
  cp = await startControlPort();
  api = new ApiClient({ server: cp.url });
});
after(() => cp.close());

test("a large module V8 accepts is created (its check compiled it) and its version pinned", async () => {
  const r = await call(cp.url, "POST", "/api/v1/functions", {
    name: "big-ok",
    code: b64(largeCommand([0x00, 0x0b])),
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.match(String((r.json.current as { digest: string }).digest), /^sha256:[0-9a-f]{64}$/);
  await call(cp.url, "DELETE", "/api/v1/functions/big-ok");
});

/** POSTs or PUTs a function's multipart body (fields, then code) with its Content-Length, as the CLI sends it. */
function multipartCall(method: string, path: string, fields: unknown, code: Uint8Array): Promise<number> {
  const boundary = "functions-test";
  const body = multipartBody(boundary, [
    ["function", JSON.stringify(fields)],
    ["code", code],
  ]);
  return new Promise((resolve, reject) => {
    const req = request(`${cp.url}${path}`, {
      method,
      headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": body.length },
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a large module's upload has the runtime boot a worker for its first runs as it begins; a small one's does not", async () => {
  const before = cp.prestarts;
  assert.equal(
    await multipartCall("POST", "/api/v1/functions", { name: "big-mp" }, largeCommand([0x00, 0x0b])),
    201,
  );
  assert.equal(cp.prestarts, before + 1);
  assert.equal(
    await multipartCall("PUT", "/api/v1/functions/big-mp", {}, largeCommand([0x00, 0x01, 0x0b])),
    200,
  );
  assert.equal(cp.prestarts, before + 2);
  assert.equal(
    await multipartCall("POST", "/api/v1/functions", { name: "small-mp" }, commandModule("mp")),
    201,
  );
  assert.equal(cp.prestarts, before + 2);
  await call(cp.url, "DELETE", "/api/v1/functions/big-mp");
  await call(cp.url, "DELETE", "/api/v1/functions/small-mp");
});

/** A WASI command with `pages` of initial memory and `decls` besides `_start` and `memory`, base64-encoded. */
async function watCommand(pages: number, decls = ""): Promise<string> {
  return b64(await wat(`(module ${decls} (memory (export "memory") ${pages}) (func (export "_start")))`));
}

/** What a user can observe of the whole state through GET. */
async function snapshot() {
  return { functions: await api.listFunctions(), routes: await api.listHttpTriggers() };
}

describe("functions", () => {
  test("create from code: version 1, defaults, pushed to the embedded registry under functions/<name>:v1", async () => {
    const code = commandModule("hello-1");
    const fn = await api.createFunction({
      name: "hello",
      code: b64(code),
      args: ["20000"],
      env: { GREETING: "hi" },
    });
    assert.equal(fn.name, "hello");
    assert.equal(fn.contract, "command");
    assert.deepEqual(fn.args, ["20000"]);
    assert.deepEqual(fn.env, { GREETING: "hi" });
    assert.deepEqual(fn.limits, DEFAULT_LIMITS);
    assert.equal(fn.current.version, 1);
    assert.equal(fn.current.image, `${cp.host}/functions/hello:v1`);
    assert.deepEqual(fn.versions, [fn.current]);
    const pulled = await cp.registry.pull(fn.current.image);
    assert.equal(pulled.digest, fn.current.digest);
    assert.equal(pulled.entry, "/hello.wasm");
    assert.deepEqual(pulled.module, code);
    assert.deepEqual(await api.getFunction("hello"), fn);
    assert.equal(cp.deployed.at(-1)?.current.digest, fn.current.digest, "onDeploy saw the new function");
  });

  test("the module as raw bytes (multipart: function + code parts) makes the same image as base64 in JSON", async () => {
    const code = commandModule("raw-bytes");
    const viaJson = await api.createFunction({
      name: "raw-json",
      code: b64(code),
      fileName: "m.wasm",
      args: ["1"],
    });
    const viaBytes = await api.createFunction({ name: "raw-bytes", fileName: "m.wasm", args: ["1"] }, code);
    assert.equal(viaBytes.current.digest, viaJson.current.digest, "same files, same image digest");
    assert.deepEqual((await cp.registry.pull(viaBytes.current.image)).module, code);
    assert.deepEqual(viaBytes.args, ["1"]);
    const v2 = await api.updateFunction("raw-bytes", { fileName: "two.wasm" }, commandModule("raw-2"));
    assert.equal(v2.current.version, 2);
    const pulled = await cp.registry.pull(v2.current.image);
    assert.equal(pulled.entry, "/two.wasm");
    assert.deepEqual(pulled.module, commandModule("raw-2"));
    for (const name of ["raw-json", "raw-bytes"]) await api.deleteFunction(name);
  });

  test("a malformed multipart body, or code given twice, is a 400 naming the problem", async () => {
    const b = "XyZ";
    const part = (name: string, content: string) =>
      `--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${content}\r\n`;
    const cases: [string, string, RegExp][] = [
      [
        `multipart/form-data; boundary=${b}`,
        `${part("function", '{"name":"mp"}')}`,
        /not closed by the boundary|malformed/,
      ],
      [
        `multipart/form-data; boundary=${b}`,
        `${part("function", '{"name":"mp","code":"AA=="}')}${part("code", "\0asm")}--${b}--\r\n`,
        /^code: given twice/,
      ],
      [
        `multipart/form-data; boundary=${b}`,
        `${part("function", '{"name":"mp"}')}${part("module", "x")}--${b}--\r\n`,
        /unknown part "module"/,
      ],
      ["multipart/form-data; charset=utf-8", `${part("function", "{}")}--${b}--\r\n`, /needs a boundary/],
      [
        `multipart/form-data; boundary=${b}`,
        `${part("function", '{"name":"mp"}')}${part("code", "not wasm")}--${b}--\r\n`,
        /code/,
      ],
    ];
    for (const [type, body, message] of cases) {
      const r = await call(cp.url, "POST", "/api/v1/functions", body, { "content-type": type });
      assert.equal(r.status, 400, body);
      assert.match(r.json.error?.message ?? "", message, body);
    }
    await assert.rejects(api.getFunction("mp"), /not found|NOT_FOUND|does not exist/i);
  });

  test("update: code makes version 2 and keeps version 1; settings alone keep the version", async () => {
    const before = await api.getFunction("hello");
    const v2 = await api.updateFunction("hello", {
      code: b64(commandModule("hello-2")),
      fileName: "main.wasm",
    });
    assert.equal(v2.current.version, 2);
    assert.notEqual(v2.current.digest, before.current.digest);
    assert.deepEqual(
      v2.versions.map((v) => v.version),
      [1, 2],
    );
    assert.equal((await cp.registry.pull(v2.current.image)).entry, "/main.wasm");
    const deploys = cp.deployed.length;
    const tuned = await api.updateFunction("hello", {
      limits: { timeoutMs: 500 },
      env: { B: "2" },
      contract: "wagi",
    });
    assert.equal(tuned.current.version, 2);
    assert.deepEqual(tuned.limits, { ...DEFAULT_LIMITS, timeoutMs: 500 });
    assert.deepEqual(tuned.env, { B: "2" });
    assert.equal(tuned.contract, "wagi");
    assert.deepEqual(tuned.args, ["20000"], "fields not given are kept");
    assert.equal(cp.deployed.length, deploys, "no redeploy without a new version");
    assert.deepEqual(await api.getFunction("hello"), tuned);
  });

  test("create from an image: the digest is pinned, a later push to the tag does not change it", async () => {
    const ref = `${cp.host}/team/tool:stable`;
    const push = async (tag: string) => {
      const entry = "/tool.wasm";
      const bundle = await buildImage({ files: new Map([[entry, commandModule(tag)]]), entry });
      return cp.registry.push(ref, bundle);
    };
    const digest = await push("tool-1");
    const fn = await api.createFunction({ name: "tool", image: ref });
    assert.equal(fn.current.digest, digest);
    assert.equal(fn.current.image, ref);
    assert.notEqual(await push("tool-2"), digest);
    assert.equal((await api.getFunction("tool")).current.digest, digest);
  });

  test("invoke runs the function with method, path, query, headers and body, and answers as it did", async () => {
    const res = await api.invoke("tool", {
      method: "POST",
      path: "/a/b",
      query: "x=1&y=2",
      headers: { "x-custom": "v" },
      body: "payload",
    });
    assert.equal(res.status, 200);
    assert.ok(res.headers.some(([k, v]) => k === "x-echo" && v === "1"));
    const seen = JSON.parse(Buffer.from(res.body).toString());
    assert.equal(seen.method, "POST");
    assert.equal(seen.path, "/a/b");
    assert.equal(seen.url, "/a/b?x=1&y=2");
    assert.equal(seen.query, "x=1&y=2");
    assert.equal(seen.headers["x-custom"], "v");
    assert.equal(seen.body, "payload");
    const root = JSON.parse(Buffer.from((await api.invoke("tool")).body).toString());
    assert.equal(root.path, "/");
  });

  test("invoke: a body over the function's limit is refused with 413 before the function runs", async () => {
    await api.createFunction({
      name: "small",
      code: b64(commandModule("small")),
      limits: { maxBodyBytes: 10 },
    });
    const logsBefore = await api.readLogs("small");
    await assert.rejects(api.invoke("small", { method: "POST", body: "x".repeat(11) }), (e) =>
      isWasmletError(e, "PAYLOAD_TOO_LARGE"),
    );
    assert.deepEqual(await api.readLogs("small"), logsBefore);
    assert.equal((await api.invoke("small", { method: "POST", body: "x".repeat(10) })).status, 200);
  });

  test("logs: cursor and limit over the invocations of one function", async () => {
    for (let i = 0; i < 3; i++) await api.invoke("small", { path: `/n${i}` });
    const all = await api.readLogs("small");
    const mine = all.filter((e) => e.stderr.startsWith("echo GET /n"));
    assert.equal(mine.length, 3);
    assert.deepEqual(await api.readLogs("small", { limit: 2 }), all.slice(-2));
    assert.deepEqual(await api.readLogs("small", { after: all.at(-2)?.id }), all.slice(-1));
    const bad = await call(cp.url, "GET", "/api/v1/functions/small/logs?limit=0");
    assert.equal(bad.status, 400);
    assert.match(bad.json.error?.message ?? "", /^limit: /);
  });

  test("logs: records dropped under load are counted in the answer, beside the entries", async () => {
    const before = await api.readLogPage("small", { limit: 1 });
    assert.equal(before.dropped, 0);
    await cp.store.appendLogs([], { small: 26_500 });
    assert.deepEqual(await api.readLogPage("small", { limit: 1 }), { items: before.items, dropped: 26_500 });
  });

  test("delete removes the function and its logs", async () => {
    await api.deleteFunction("small");
    await assert.rejects(
      api.getFunction("small"),
      (e) => isWasmletError(e, "NOT_FOUND") && /"small"/.test(e.message),
    );
    assert.deepEqual(await cp.store.readLogs("small"), []);
    assert.equal(await cp.store.droppedLogs("small"), 0);
    assert.ok(!(await api.listFunctions()).some((f) => f.name === "small"));
  });

  const notWasm = b64(Buffer.from("definitely not wasm"));
  const bad: {
    what: string;
    method?: string;
    path?: string;
    body: () => unknown | Promise<unknown>;
    status: number;
    code: string;
    message: RegExp;
  }[] = [
    {
      what: "not wasm",
      body: () => ({ name: "x1", code: notWasm }),
      status: 400,
      code: "INVALID_MODULE",
      message: /^code: not a WebAssembly module/,
    },
    {
      what: "wrong imports",
      body: () => ({ name: "x2", code: b64(envImportModule()) }),
      status: 400,
      code: "INVALID_MODULE",
      message: /^code: .*"env"\."foo"/,
    },
    {
      what: "a large module (checked by compiling it) whose function body V8 refuses (i32.add on an empty stack)",
      body: () => ({ name: "big1", code: b64(largeCommand([0x00, 0x6a, 0x0b])) }),
      status: 400,
      code: "INVALID_MODULE",
      message:
        /^code: not a WebAssembly module: the binary is invalid \(Compiling function #0 failed: .*i32\.add/,
    },
    {
      what: "a large module whose initial memory is over limits.memoryMiB: named so, not by V8",
      body: () => ({ name: "big2", code: b64(largeCommand([0x00, 0x0b], 40)), limits: { memoryMiB: 2 } }),
      status: 400,
      code: "INVALID_MODULE",
      message: /^code: the module's initial memory \(40 pages = 2\.5 MiB\) is over .*limits\.memoryMiB = 2;/,
    },
    {
      what: "initial memory over the default cap (128 MiB = 2048 pages)",
      body: async () => ({ name: "m1", code: await watCommand(2049) }),
      status: 400,
      code: "INVALID_MODULE",
      message:
        /^code: the module's initial memory \(2049 pages = 128\.0625 MiB\) is over the function's memory cap, limits\.memoryMiB = 128; raise limits\.memoryMiB to at least 129/,
    },
    {
      what: "initial memory over limits.memoryMiB",
      body: async () => ({ name: "m2", code: await watCommand(40), limits: { memoryMiB: 2 } }),
      status: 400,
      code: "INVALID_MODULE",
      message: /^code: the module's initial memory \(40 pages = 2\.5 MiB\) is over .*limits\.memoryMiB = 2;/,
    },
    {
      what: "update whose new code is over the cap the update sets",
      method: "PUT",
      path: "/api/v1/functions/hello",
      body: async () => ({ code: await watCommand(40), limits: { memoryMiB: 2 } }),
      status: 400,
      code: "INVALID_MODULE",
      message: /^code: the module's initial memory \(40 pages = 2\.5 MiB\) is over .*limits\.memoryMiB = 2;/,
    },
    {
      what: "a WASI import preview1 does not define",
      body: async () => ({
        name: "w1",
        code: await watCommand(
          1,
          `(import "wasi_snapshot_preview1" "fd_wrte" (func (param i32) (result i32)))`,
        ),
      }),
      status: 400,
      code: "INVALID_MODULE",
      message:
        /^code: module imports wasi_snapshot_preview1 function "fd_wrte", which WASI preview1 does not define$/,
    },
    {
      what: "a WASI import with the wrong signature",
      body: async () => ({
        name: "w2",
        code: await watCommand(
          1,
          `(import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))`,
        ),
      }),
      status: 400,
      code: "INVALID_MODULE",
      message:
        /^code: module imports wasi_snapshot_preview1 "fd_write" as \(i32\) -> i32, but WASI preview1 defines it as \(i32, i32, i32, i32\) -> i32$/,
    },
    {
      what: "an export under the runtime's reserved prefix",
      body: async () => ({
        name: "w3",
        code: await watCommand(1, `(global (export "__wasmlet_fuel") (mut i32) (i32.const 0))`),
      }),
      status: 400,
      code: "INVALID_MODULE",
      message: /^code: module exports "__wasmlet_fuel"; names starting with __wasmlet_ are reserved/,
    },
    {
      what: "dirs naming the directory / itself",
      body: () => ({ name: "d1", code: b64(commandModule()), dirs: [{ name: "/" }] }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^dirs\[0\]\.name: "\/": "\/" is always preopened/,
    },
    {
      what: "dirs climbing with ..",
      body: () => ({ name: "d2", code: b64(commandModule()), dirs: [{ name: "a/../b" }] }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^dirs\[0\]\.name: "a\/\.\.\/b": must not contain "\.\." segments/,
    },
    {
      what: "two dirs for one directory",
      body: () => ({ name: "d3", code: b64(commandModule()), dirs: [{ name: "a" }, { name: "/a" }] }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^dirs\[1\]\.name: "\/a" is the same directory as "a" \(\/a\)/,
    },
    {
      what: "dirs with an absolute symlink",
      body: () => ({
        name: "d4",
        code: b64(commandModule()),
        dirs: [{ name: "a", symlinks: { l: "/etc" } }],
      }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^dirs\[0\]\.symlinks\.l: must be a relative target/,
    },
    {
      what: "dirs with a file where --file put one too",
      body: () => ({
        name: "d5",
        code: b64(commandModule()),
        files: { "/a/x": b64(Buffer.from("1")) },
        dirs: [{ name: "a", files: { x: b64(Buffer.from("2")) } }],
      }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^dirs\[0\]\.files\["x"\]: \/a\/x is already files: "\/a\/x"/,
    },
    {
      what: "dirs without code",
      method: "PUT",
      path: "/api/v1/functions/hello",
      body: () => ({ dirs: [{ name: "a" }] }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^dirs: is only allowed together with code/,
    },
    {
      what: "outputFile on a wagi function",
      body: () => ({ name: "o1", code: b64(commandModule()), contract: "wagi", outputFile: "/out/x" }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^outputFile: only a command function answers with a file/,
    },
    {
      what: "outputFile not an absolute file path",
      body: () => ({ name: "o2", code: b64(commandModule()), outputFile: "out/x" }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^outputFile: "out\/x": must be an absolute path/,
    },
    {
      what: "files with a file where a directory must be",
      body: () => ({
        name: "f1",
        code: b64(commandModule()),
        files: { "/a": b64(Buffer.from("a")), "/a/b": "" },
      }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^files: "\/a\/b" needs "\/a" to be a directory, but "\/a" is a file too$/,
    },
    {
      what: "a file under the module's own path",
      body: () => ({ name: "f2", code: b64(commandModule()), files: { "/f2.wasm/readme": "" } }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message:
        /^files: "\/f2\.wasm\/readme" needs "\/f2\.wasm" to be a directory, but that is the module's own path$/,
    },
    {
      what: "NUL in an env value",
      body: () => ({ name: "n1", code: b64(commandModule()), env: { OK: "fine", BAD: "a\u0000b" } }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^env\.BAD: must not contain NUL \(\\0\) characters$/,
    },
    {
      what: "NUL in an env name",
      body: () => ({ name: "n2", code: b64(commandModule()), env: { "A\u0000": "v" } }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^env\.A\u0000: is not a valid variable name/,
    },
    {
      what: "NUL in an arg",
      body: () => ({ name: "n3", code: b64(commandModule()), args: ["ok", "a\u0000b"] }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^args\[1\]: must not contain NUL \(\\0\) characters$/,
    },
    {
      what: "update with NUL in an arg",
      method: "PUT",
      path: "/api/v1/functions/hello",
      body: () => ({ args: ["\u0000"] }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^args\[0\]: must not contain NUL/,
    },
    {
      what: "duplicate name",
      body: () => ({ name: "hello", code: b64(commandModule("dup")) }),
      status: 409,
      code: "ALREADY_EXISTS",
      message: /^name: function "hello" already exists/,
    },
    {
      what: "bad name",
      body: () => ({ name: "Hello_World", code: b64(commandModule()) }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^name: "Hello_World" is not a valid name \(use 1-63 characters/,
    },
    {
      what: "missing name",
      body: () => ({ code: b64(commandModule()) }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^name: is required/,
    },
    {
      what: "no code nor image",
      body: () => ({ name: "x3" }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^code: exactly one of code or image/,
    },
    {
      what: "code and image",
      body: () => ({ name: "x4", code: b64(commandModule()), image: `${cp.host}/team/tool:stable` }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^image: cannot be given together with code/,
    },
    {
      what: "bad limit",
      body: () => ({ name: "x5", code: b64(commandModule()), limits: { timeoutMs: -5 } }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^limits\.timeoutMs: must be a positive integer/,
    },
    {
      what: "bad env key",
      body: () => ({ name: "x6", code: b64(commandModule()), env: { "1X": "v" } }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^env\.1X: is not a valid variable name/,
    },
    {
      what: "unknown field",
      body: () => ({ name: "x7", code: b64(commandModule()), limit: {} }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^limit: unknown field/,
    },
    {
      what: "file name with a directory",
      body: () => ({ name: "x8", code: b64(commandModule()), fileName: "../x.wasm" }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^fileName: /,
    },
    {
      what: "bad JSON",
      body: () => "{",
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^body: not valid JSON/,
    },
    {
      what: "bad image reference",
      body: () => ({ name: "x9", image: "Not A/Ref" }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^image: image reference "Not A\/Ref"/,
    },
    {
      what: "unknown image",
      body: () => ({ name: "x10", image: `${cp.host}/team/none:v1` }),
      status: 404,
      code: "NOT_FOUND",
      message: /^image: cannot pull .*team\/none:v1/,
    },
    {
      what: "unreachable registry",
      body: () => ({ name: "x11", image: `127.0.0.1:${deadPort}/team/tool:v1` }),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^image: cannot pull 127\.0\.0\.1:\d+\/team\/tool:v1: .*ECONNREFUSED/,
    },
    {
      what: "update of an unknown function",
      method: "PUT",
      path: "/api/v1/functions/nope",
      body: () => ({ args: [] }),
      status: 404,
      code: "NOT_FOUND",
      message: /function "nope" not found/,
    },
    {
      what: "update with nothing",
      method: "PUT",
      path: "/api/v1/functions/hello",
      body: () => ({}),
      status: 400,
      code: "INVALID_ARGUMENT",
      message: /^body: nothing to update/,
    },
    {
      what: "update with a bad module",
      method: "PUT",
      path: "/api/v1/functions/hello",
      body: () => ({ code: notWasm }),
      status: 400,
      code: "INVALID_MODULE",
      message: /^code: not a WebAssembly module/,
    },
    {
      what: "get of an unknown function",
      method: "GET",
      path: "/api/v1/functions/nope",
      body: () => undefined,
      status: 404,
      code: "NOT_FOUND",
      message: /function "nope" not found/,
    },
    {
      what: "delete of an unknown function",
      method: "DELETE",
      path: "/api/v1/functions/nope",
      body: () => undefined,
      status: 404,
      code: "NOT_FOUND",
      message: /function "nope" not found/,
    },
    {
      what: "invoke of an unknown function",
      method: "POST",
      path: "/api/v1/functions/nope/invoke/x",
      body: () => "hi",
      status: 404,
      code: "NOT_FOUND",
      message: /function "nope" not found/,
    },
  ];
  for (const c of bad) {
    test(`bad input: ${c.what} → ${c.status} ${c.code}, nothing changes`, async () => {
      const before = await snapshot();
      const res = await call(cp.url, c.method ?? "POST", c.path ?? "/api/v1/functions", await c.body());
      assert.equal(res.status, c.status, JSON.stringify(res.json));
      assert.equal(res.json.error?.code, c.code);
      assert.match(res.json.error?.message ?? "", c.message);
      assert.deepEqual(await snapshot(), before);
    });
  }

  test("dirs: the files, directories and symlinks go into the image under the name, which the version preopens", async () => {
    const fn = await api.createFunction({
      name: "with-dirs",
      code: b64(commandModule("dirs")),
      dirs: [
        {
          name: "fs-tests.dir",
          files: { "a.txt": b64(Buffer.from("a")), "sub/b.txt": b64(Buffer.from("b")) },
          directories: ["sub", "empty"],
          symlinks: { link: "a.txt" },
        },
        { name: "/abs/out" },
      ],
    });
    assert.deepEqual(fn.current.dirs, ["fs-tests.dir", "/abs/out"]);
    const img = await cp.registry.pull(fn.current.image);
    assert.deepEqual([...img.files.keys()].sort(), [
      "/fs-tests.dir/a.txt",
      "/fs-tests.dir/sub/b.txt",
      "/with-dirs.wasm",
    ]);
    assert.deepEqual([...(img.symlinks ?? [])], [["/fs-tests.dir/link", "a.txt"]]);
    assert.deepEqual(img.dirs, [
      "/abs",
      "/abs/out",
      "/fs-tests.dir",
      "/fs-tests.dir/empty",
      "/fs-tests.dir/sub",
    ]);
    assert.deepEqual(img.preopens, ["fs-tests.dir", "/abs/out"]);
  });

  test("outputFile is kept, changed and cleared with null; contract changes respect it", async () => {
    const fn = await api.createFunction({
      name: "outfile",
      code: b64(commandModule()),
      outputFile: "/out/r.wav",
    });
    assert.equal(fn.outputFile, "/out/r.wav");
    assert.equal(
      (await api.updateFunction("outfile", { outputFile: "/out/s.wav" })).outputFile,
      "/out/s.wav",
    );
    await assert.rejects(api.updateFunction("outfile", { contract: "wagi" }), /outputFile: only a command/);
    const cleared = await api.updateFunction("outfile", { outputFile: null });
    assert.equal(cleared.outputFile, undefined);
    assert.equal((await api.updateFunction("outfile", { contract: "wagi" })).contract, "wagi");
  });

  test("run answers with the program's exit code, stdout, stderr and the files it wrote under the collected directory", async () => {
    await api.createFunction({ name: "runner", code: b64(commandModule()), env: { EXIT: "33" } });
    const r = await api.runFunction("runner", { path: "/p", query: "arg=x", collect: "out" });
    assert.equal(r.exitCode, 33);
    assert.equal(r.status, 500);
    assert.equal(r.error, undefined, "a plain exit is told by exitCode alone");
    assert.equal(Buffer.from(r.stderr).toString(), "stderr of runner\n");
    assert.match(Buffer.from(r.stdout).toString(), /"url":"\/p\?arg=x"/);
    assert.deepEqual(
      [...r.files].map(([p, b]) => [p, Buffer.from(b).toString()]),
      [["/out/out.txt", "written"]],
    );
    const bad = await call(cp.url, "GET", "/api/v1/functions/runner/run", undefined, {
      "x-wasmlet-collect": "a/../b",
    });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error?.message ?? "", /^x-wasmlet-collect: "a\/\.\.\/b" must not contain/);
  });

  test("a failed create pushes nothing under functions/<name>", async () => {
    await assert.rejects(cp.registry.resolve(`${cp.host}/functions/x1:v1`), /x1/);
  });

  test("concurrent updates get distinct versions", async () => {
    const results = await Promise.all(
      [0, 1, 2].map((i) => api.updateFunction("hello", { code: b64(commandModule(`c${i}`)) })),
    );
    const versions = results.map((r: FunctionRecord) => r.current.version).sort();
    const last = await api.getFunction("hello");
    assert.equal(new Set(versions).size, 3);
    assert.equal(last.versions.length, Math.max(...versions));
    assert.equal(last.current.version, Math.max(...versions));
  });
});

describe("memory cap against the module's initial memory", () => {
  test("a limits-only update must leave room for the current module's initial memory", async () => {
    const fn = await api.createFunction({ name: "roomy", code: await watCommand(40) });
    assert.equal(fn.current.initialMemoryPages, 40);
    const before = await snapshot();
    const res = await call(cp.url, "PUT", "/api/v1/functions/roomy", { limits: { memoryMiB: 2 } });
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.match(
      res.json.error?.message ?? "",
      /^limits\.memoryMiB: the current version \(1\) cannot run under it: the module's initial memory \(40 pages = 2\.5 MiB\)/,
    );
    assert.deepEqual(await snapshot(), before);
    assert.equal((await api.updateFunction("roomy", { limits: { memoryMiB: 3 } })).limits.memoryMiB, 3);
  });

  test("new code must fit the cap the function already has", async () => {
    await api.createFunction({ name: "tight", code: b64(commandModule("tight")), limits: { memoryMiB: 1 } });
    const before = await snapshot();
    const res = await call(cp.url, "PUT", "/api/v1/functions/tight", { code: await watCommand(17) });
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.match(
      res.json.error?.message ?? "",
      /^code: .*\(17 pages = 1\.0625 MiB\).*limits\.memoryMiB = 1;/,
    );
    assert.deepEqual(await snapshot(), before);
  });

  test("an image whose module is over the cap is refused, naming the image", async () => {
    const ref = `${cp.host}/team/big:v1`;
    const module = await wat(`(module (memory (export "memory") 40) (func (export "_start")))`);
    await cp.registry.push(
      ref,
      await buildImage({ files: new Map([["/big.wasm", module]]), entry: "/big.wasm" }),
    );
    const before = await snapshot();
    const res = await call(cp.url, "POST", "/api/v1/functions", {
      name: "big",
      image: ref,
      limits: { memoryMiB: 2 },
    });
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.match(
      res.json.error?.message ?? "",
      /^image: .*team\/big:v1: the module's initial memory \(40 pages/,
    );
    assert.deepEqual(await snapshot(), before);
  });

  test("rollback to a version whose module no longer fits the cap is refused", async () => {
    await api.updateFunction("roomy", { code: b64(commandModule("roomy-small")) });
    await api.updateFunction("roomy", { limits: { memoryMiB: 1 } });
    const before = await snapshot();
    const res = await call(cp.url, "POST", "/api/v1/functions/roomy/rollback", { to: 1 });
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.match(
      res.json.error?.message ?? "",
      /^to: version 1 cannot run: the module's initial memory \(40 pages/,
    );
    assert.deepEqual(await snapshot(), before);
  });
});
