import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_LIMITS, type FunctionRecord, isWasmletError } from "../../core/index.js";
import type { InvocationRequest } from "../types.js";
import { COMMAND_CONTRACT } from "./command.js";
import { decodeEnv } from "./env-writer.js";
import { parseCgiOutput, WAGI_CONTRACT } from "./wagi.js";

const out = (s: string) => ({ exitCode: 0, stdout: Buffer.from(s), stderr: new Uint8Array(0) });

test("CGI output: headers, status and body", async (t) => {
  const cases: { name: string; stdout: string; status: number; headers: [string, string][]; body: string }[] =
    [
      {
        name: "content-type only",
        stdout: "Content-Type: text/plain\n\nhi",
        status: 200,
        headers: [["content-type", "text/plain"]],
        body: "hi",
      },
      {
        name: "CRLF lines",
        stdout: "Content-Type: a/b\r\n\r\nx\r\n",
        status: 200,
        headers: [["content-type", "a/b"]],
        body: "x\r\n",
      },
      {
        name: "Status with a reason phrase",
        stdout: "Status: 404 Not Found\nContent-Type: text/plain\n\nnope",
        status: 404,
        headers: [["content-type", "text/plain"]],
        body: "nope",
      },
      {
        name: "Location alone redirects",
        stdout: "Location: /elsewhere\n\n",
        status: 302,
        headers: [["location", "/elsewhere"]],
        body: "",
      },
      {
        name: "Location with explicit status",
        stdout: "Status: 301\nLocation: /x\n\n",
        status: 301,
        headers: [["location", "/x"]],
        body: "",
      },
      {
        name: "other headers pass through, framing headers do not",
        stdout: "Content-Type: t/x\nX-Custom: 1\nContent-Length: 999\nSet-Cookie: a=b\n\nbody\n\nmore",
        status: 200,
        headers: [
          ["content-type", "t/x"],
          ["x-custom", "1"],
          ["set-cookie", "a=b"],
        ],
        body: "body\n\nmore",
      },
    ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const r = parseCgiOutput(out(c.stdout));
      assert.equal(r.status, c.status);
      assert.deepEqual(r.headers, c.headers);
      assert.equal(Buffer.from(r.body).toString(), c.body);
    });
  }
});

test("malformed CGI output is a 502 that says why", async (t) => {
  const cases = [
    { name: "no header block", stdout: "just a body", why: /blank line/ },
    {
      name: "no content-type, status or location",
      stdout: "X-Thing: 1\n\nbody",
      why: /none of Content-Type/,
    },
    { name: "line without colon", stdout: "Content-Type: a/b\nbogus\n\n", why: /no name/ },
    { name: "bad status", stdout: "Status: abc\n\n", why: /not a final status code/ },
    { name: "empty output", stdout: "", why: /blank line/ },
    { name: "CR inside a value", stdout: "X-A: a\rB\nContent-Type: a/b\n\n", why: /control character/ },
    { name: "NUL inside a value", stdout: "Content-Type: a\u0000b\n\n", why: /control character/ },
    { name: "DEL inside a value", stdout: "Content-Type: a\u007fb\n\n", why: /control character/ },
    { name: "interim status 100", stdout: "Status: 100 Continue\n\n", why: /final status code/ },
    { name: "101 switching protocols", stdout: "Status: 101\n\n", why: /final status code/ },
    { name: "status 600", stdout: "Status: 600\n\n", why: /final status code/ },
    { name: "204 with a body", stdout: "Status: 204\n\nbody", why: /204 response cannot have a body/ },
    { name: "304 with a body", stdout: "Status: 304\n\nx", why: /304 response cannot have a body/ },
    {
      name: "too many header lines",
      stdout: `Content-Type: a/b\n${"X-A: 1\n".repeat(100)}\n`,
      why: /more than 100 header lines/,
    },
    {
      name: "a header block over 64 KiB",
      stdout: `Content-Type: ${"a".repeat(70_000)}\n\n`,
      why: /longer than/,
    },
    { name: "space in a name", stdout: "Content Type: a/b\n\n", why: /not a valid header name/ },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      assert.throws(
        () => parseCgiOutput(out(c.stdout)),
        (e) => isWasmletError(e, "BAD_GATEWAY") && e.status === 502 && c.why.test(e.message),
      );
    });
  }
});

function echoFn(env: Record<string, string>): FunctionRecord {
  return {
    name: "echo",
    contract: "wagi",
    args: [],
    env,
    limits: { ...DEFAULT_LIMITS },
    current: { version: 1, image: "r/x:v1", digest: `sha256:${"0".repeat(64)}`, createdAt: "" },
    versions: [],
    createdAt: "",
    updatedAt: "",
  };
}

function request(
  r: Pick<InvocationRequest, "method" | "url" | "query" | "headers" | "body" | "route">,
): InvocationRequest {
  const q = r.url.indexOf("?");
  return {
    ...r,
    path: q < 0 ? r.url : r.url.slice(0, q),
    remoteAddr: "127.0.0.1",
    remotePort: 5555,
    serverName: "127.0.0.1",
    serverPort: 8080,
    protocol: "HTTP/1.1",
  };
}

test("WAGI variables describe the request", () => {
  const fn = echoFn({ GREETING: "hi" });
  const req = request({
    method: "POST",
    url: "/echo/a%20b?y=1&z=2",
    query: "y=1&z=2",
    headers: { host: "example.test:8080", "content-type": "text/plain", "x-trace-id": "42" },
    body: Buffer.from("abc"),
    route: { pattern: "/echo/...", scriptName: "/echo", pathInfo: "/a%20b", params: {} },
  });
  const inputs = WAGI_CONTRACT.prepare(req, fn, "/echo.wasm");
  const env = new Map(
    decodeEnv(inputs.env).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  const expected: Record<string, string> = {
    GREETING: "hi",
    REQUEST_METHOD: "POST",
    PATH_INFO: "/a b",
    X_RAW_PATH_INFO: "/a%20b",
    SCRIPT_NAME: "/echo",
    QUERY_STRING: "y=1&z=2",
    CONTENT_LENGTH: "3",
    CONTENT_TYPE: "text/plain",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    SERVER_PORT: "8080",
    REMOTE_ADDR: "127.0.0.1",
    X_MATCHED_ROUTE: "/echo/...",
    X_FULL_URL: "http://example.test:8080/echo/a%20b?y=1&z=2",
    HTTP_HOST: "example.test:8080",
    HTTP_X_TRACE_ID: "42",
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(env.get(k), v, k);
  assert.deepEqual(inputs.args, ["/echo/a%20b", "y=1", "z=2"]);
  assert.equal(Buffer.from(inputs.stdin).toString(), "abc");
});

test("WAGI variables carry the bytes the client sent: raw header bytes, UTF-8 for a decoded path", () => {
  const fn = echoFn({ GREETING: "grüß" });
  // node hands header values over as latin1: "Ã¼" is what it makes of the UTF-8 bytes of "ü".
  const req = request({
    method: "GET",
    url: "/echo/%C3%BC",
    query: "",
    headers: { host: "h", "x-name": Buffer.from("ü").toString("latin1") },
    body: new Uint8Array(0),
    route: { pattern: "/echo/...", scriptName: "/echo", pathInfo: "/%C3%BC", params: { id: "ü" } },
  });
  const env = decodeEnv(WAGI_CONTRACT.prepare(req, fn, "/echo.wasm").env);
  for (const want of [
    "GREETING=grüß",
    "HTTP_X_NAME=ü",
    "PATH_INFO=/ü",
    "X_RAW_PATH_INFO=/%C3%BC",
    "X_PARAM_ID=ü",
  ])
    assert.ok(env.includes(want), `${want} in ${JSON.stringify(env)}`);
  // A decoded %00 cannot reach a C string: the request is refused with a message naming the variable.
  assert.throws(
    () => WAGI_CONTRACT.prepare({ ...req, route: { ...req.route, pathInfo: "/a%00b" } }, fn, "/echo.wasm"),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && /PATH_INFO would contain a NUL/.test(e.message),
  );
});

test("a trigger's kind, name, invocation id and attempt reach the function: CGI variables and command env", () => {
  const fn = echoFn({ GREETING: "hi" });
  const base = request({
    method: "POST",
    url: "/",
    query: "",
    headers: {},
    body: new Uint8Array(0),
    route: { pattern: "/", scriptName: "", pathInfo: "/", params: {} },
  });
  const vars = [
    "WASMLET_TRIGGER=timer",
    "WASMLET_TRIGGER_NAME=nightly",
    "WASMLET_EVENT_ID=id-1",
    "WASMLET_ATTEMPT=2",
  ];
  const req = { ...base, trigger: { kind: "timer" as const, name: "nightly", id: "id-1", attempt: 2 } };
  const wagi = decodeEnv(WAGI_CONTRACT.prepare(req, fn, "/echo.wasm").env);
  const command = COMMAND_CONTRACT.prepare(req, { ...fn, contract: "command" }, "/echo.wasm").env as string[];
  for (const v of vars) {
    assert.ok(wagi.includes(v), `${v} in the CGI variables`);
    assert.ok(command.includes(v), `${v} in the command's env`);
  }
  assert.ok(command.includes("GREETING=hi"));
  // An HTTP request carries none of them.
  const plain = decodeEnv(WAGI_CONTRACT.prepare(base, fn, "/echo.wasm").env);
  assert.ok(!plain.some((v) => v.startsWith("WASMLET_")));
  const plainCommand = COMMAND_CONTRACT.prepare(base, { ...fn, contract: "command" }, "/echo.wasm")
    .env as string[];
  assert.ok(!plainCommand.some((v) => v.startsWith("WASMLET_")));
});
