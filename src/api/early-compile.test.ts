import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { toWasmletError } from "../core/index.js";
import { readFunctionBody } from "./http-util.js";
import { largeCommand, multipartBody } from "./test-support.js";

/** What the server made of a body: the module's size, the memory cap it was compiled under as it arrived. */
interface Seen {
  moduleBytes?: number;
  /** The module length the image was started with as the body arrived, and whether the read kept that image. */
  imageStartedWith?: number;
  imageKept?: boolean;
  /** How much of the body the image's builder was told had arrived, at the end. */
  arrivedAtEnd?: number;
  json?: unknown;
  compiledPages?: number | "failed";
  error?: string;
}

/**
 * A real HTTP server whose handler reads a function body (the function's cap: 128 MiB unless the body says),
 * and a client that sends `body` with its Content-Length in pieces, a few milliseconds apart.
 */
async function send(
  body: Buffer,
  boundary: string,
  opts: { abortAt?: number; finalCrlf?: boolean } = {},
): Promise<Seen> {
  if (opts.finalCrlf === false) body = body.subarray(0, body.length - 2);
  let seen: (s: Seen) => void = () => {};
  const result = new Promise<Seen>((resolve) => {
    seen = resolve;
  });
  const server = createServer(async (req, res) => {
    try {
      let started: { length: number; counter: Int32Array } | undefined;
      const b = await readFunctionBody(req, 128, (_fields, module, arrival) => {
        started = { length: module.byteLength, counter: arrival.counter };
        return { entry: "/m.wasm", module, bundle: new Promise(() => {}) };
      });
      const compiled = b.compiled && (await b.compiled);
      seen({
        imageStartedWith: started?.length,
        imageKept: b.built !== undefined,
        arrivedAtEnd: started && Atomics.load(started.counter, 0),
        moduleBytes: b.module?.byteLength,
        json: b.json,
        compiledPages: b.compiled ? (compiled?.maxMemoryPages ?? "failed") : undefined,
      });
      if (compiled) new WebAssembly.Instance(compiled.module, { wasi_snapshot_preview1: { proc_exit() {} } });
    } catch (e) {
      seen({ error: toWasmletError(e).message });
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const req = request({
    host: "127.0.0.1",
    port,
    method: "POST",
    headers: {
      "content-type": `multipart/form-data; boundary=${boundary}`,
      "content-length": body.length,
    },
  });
  req.on("error", () => {});
  req.on("response", (res) => res.resume());
  const piece = 256 * 1024 + 7;
  for (let at = 0; at < body.length; at += piece) {
    if (opts.abortAt !== undefined && at >= opts.abortAt) {
      req.destroy();
      break;
    }
    req.write(body.subarray(at, at + piece));
    await new Promise((r) => setTimeout(r, 2));
  }
  if (opts.abortAt === undefined) req.end();
  try {
    return await result;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

const module = largeCommand([0x00, 0x0b]);

test("a large module is compiled as its multipart upload arrives, capped at the memory its fields ask for or the function's", async () => {
  const boundary = "----wasmlet-early";
  const asked = await send(
    multipartBody(boundary, [
      ["function", JSON.stringify({ name: "f", limits: { memoryMiB: 2 } })],
      ["code", module],
    ]),
    boundary,
  );
  assert.deepEqual(asked, {
    imageStartedWith: module.byteLength,
    imageKept: true,
    arrivedAtEnd: asked.arrivedAtEnd,
    moduleBytes: module.byteLength,
    json: { name: "f", limits: { memoryMiB: 2 }, code: "" },
    compiledPages: 32,
  });
  const fallback = await send(
    multipartBody(boundary, [
      ["function", JSON.stringify({ name: "f" })],
      ["code", module],
    ]),
    boundary,
  );
  assert.equal(fallback.compiledPages, 128 * 16);
  assert.ok((fallback.arrivedAtEnd ?? 0) > module.byteLength, "told the whole body arrived");
  // A body that ends without the CRLF after its last delimiter: the module's length was guessed wrong, so the
  // image started with it is not kept (the module is imaged after the upload instead).
  const short = await send(
    multipartBody(boundary, [
      ["function", JSON.stringify({ name: "f" })],
      ["code", module],
    ]),
    boundary,
    { finalCrlf: false },
  );
  assert.equal(short.moduleBytes, module.byteLength);
  assert.equal(short.imageStartedWith, module.byteLength - 2);
  assert.equal(short.imageKept, false);
});

test("a body in another order, or whose module does not compile, is read as before, without an early compile", async () => {
  const boundary = "b0undary";
  const codeFirst = await send(
    multipartBody(boundary, [
      ["code", module],
      ["function", JSON.stringify({ name: "f" })],
    ]),
    boundary,
  );
  assert.equal(codeFirst.moduleBytes, module.byteLength);
  assert.equal(codeFirst.compiledPages, undefined);
  // `i32.add` on an empty stack: V8 refuses it; the check after the upload says why (api tests).
  const invalid = largeCommand([0x00, 0x6a, 0x0b]);
  const refused = await send(
    multipartBody(boundary, [
      ["function", JSON.stringify({ name: "f" })],
      ["code", invalid],
    ]),
    boundary,
  );
  assert.equal(refused.moduleBytes, invalid.byteLength);
  assert.equal(refused.compiledPages, "failed");
  const badFields = await send(
    multipartBody(boundary, [
      ["function", "{not json"],
      ["code", module],
    ]),
    boundary,
  );
  assert.match(badFields.error ?? "", /not valid JSON/);
});

test("an upload cut off in the middle of its module fails the read and leaves the server serving", async () => {
  const boundary = "cut";
  const body = multipartBody(boundary, [
    ["function", JSON.stringify({ name: "f" })],
    ["code", module],
  ]);
  const cut = await send(body, boundary, { abortAt: 2 * 1024 * 1024 });
  assert.ok(cut.error, "the read failed");
  const whole = await send(body, boundary);
  assert.equal(whole.compiledPages, 2048);
});
