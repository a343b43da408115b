import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type RequestListener, request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { WasmletError } from "../core/index.js";
import {
  carriesToken,
  Dispatcher,
  finishEarly,
  parseMultipart,
  presentedSecret,
  readBody,
  readJson,
  readSharedBody,
  readSharedBodyFinding,
  sendError,
  sendJson,
  sendText,
  setBodyPrefault,
} from "./index.js";

async function withServer<T>(listener: RequestListener, body: (port: number) => Promise<T>): Promise<T> {
  const server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    return await body((server.address() as AddressInfo).port);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

/**
 * A listener that reads the body with readSharedBody (up to `limit`) and answers whether it is in shared memory
 * and the same as `expected(req)`: "true same", or an error's status.
 */
function sharedBodyCheck(limit: number, expected: (req: IncomingMessage) => Uint8Array): RequestListener {
  return (req, res) => {
    readSharedBody(req, limit).then(
      (b) =>
        sendText(
          res,
          200,
          `${b.buffer instanceof SharedArrayBuffer} ${Buffer.from(b).equals(expected(req)) ? "same" : "differs"}`,
        ),
      (e) => sendError(req, res, e),
    );
  };
}

/** Sends a request with node:http (streamed, chunked when `chunked`), returns status, headers and body. */
function send(
  port: number,
  opts: {
    method?: string;
    path?: string;
    body?: Buffer;
    chunked?: boolean;
    headers?: Record<string, string>;
  },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body && !opts.chunked) headers["content-length"] = String(opts.body.length);
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "POST",
        path: opts.path ?? "/",
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    if (opts.body) {
      // In 64 KiB pieces, so the server can answer while the client is still sending.
      for (let i = 0; i < opts.body.length; i += 65536) req.write(opts.body.subarray(i, i + 65536));
    }
    req.end();
  });
}

const echoLimited: (limit: number) => RequestListener = (limit) => (req, res) => {
  readBody(req, limit).then(
    (b) => sendText(res, 200, `got ${b.length}`),
    (e) => sendError(req, res, e),
  );
};

test("readBody returns the whole body, declared or chunked, up to its limit", async () => {
  await withServer(echoLimited(1 << 20), async (port) => {
    assert.equal((await send(port, { body: Buffer.alloc(300_000, 1) })).body, "got 300000");
    assert.equal((await send(port, { body: Buffer.alloc(300_000, 1), chunked: true })).body, "got 300000");
    assert.equal((await send(port, { method: "GET" })).body, "got 0");
  });
});

test("readSharedBody returns the same bytes in shared memory, declared or chunked; over the limit a 413", async () => {
  const body = Buffer.alloc(300_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 255;
  await withServer(
    sharedBodyCheck(1 << 20, () => body),
    async (port) => {
      assert.equal((await send(port, { body })).body, "true same");
      assert.equal((await send(port, { body, chunked: true })).body, "true same");
      for (const chunked of [false, true])
        assert.equal(
          (await send(port, { body: Buffer.alloc(2 << 20), chunked })).status,
          413,
          `chunked=${chunked}`,
        );
    },
  );
});

test("a declared body of 1 MiB or more has its shared memory handed to the prefault ahead of its bytes, never more than has arrived", async () => {
  const seen: { from: number; to: number; shared: boolean; zeros: boolean }[] = [];
  setBodyPrefault(async (bytes) => {
    seen.push({
      from: bytes.byteOffset,
      to: bytes.byteOffset + bytes.byteLength,
      shared: bytes.buffer instanceof SharedArrayBuffer,
      zeros: bytes.every((b) => b === 0),
    });
  });
  try {
    const large = Buffer.alloc(3 << 20);
    for (let i = 0; i < large.length; i += 4093) large[i] = (i >> 12) & 255 || 1;
    await withServer(
      sharedBodyCheck(8 << 20, (req) => (req.method === "PUT" ? large : small)),
      async (port) => {
        assert.equal((await send(port, { method: "PUT", body: large })).body, "true same");
        assert.ok(seen.length > 1, `${seen.length} ranges`);
        let covered = 0;
        let last = 0;
        for (const r of seen) {
          assert.ok(r.shared && r.zeros, "shared memory not written yet: ahead of the bytes");
          assert.ok(r.from >= last && r.to > r.from, "in order, apart");
          assert.ok(
            r.to <= Math.max(2 * r.from, r.from + (2 << 20)) && r.from > 0,
            `[${r.from}, ${r.to}): once bytes arrived, never more ahead than they or 2 MiB`,
          );
          covered += r.to - r.from;
          last = r.to;
        }
        assert.ok(covered > large.length * 0.9, `${covered} of ${large.length} bytes faulted in ahead`);
        const calls = seen.length;
        assert.equal((await send(port, { body: small })).body, "true same");
        assert.equal((await send(port, { method: "PUT", body: large, chunked: true })).body, "true same");
        assert.equal(seen.length, calls, "not for a small body, nor a chunked one (read whole first)");
      },
    );
  } finally {
    setBodyPrefault(undefined);
  }
});

test("a prefault that throws, fails or says it could not does not stop the body being read", async () => {
  for (const failing of [
    () => {
      throw new Error("cannot");
    },
    () => Promise.reject(new Error("cannot")),
    async () => false,
  ]) {
    let calls = 0;
    setBodyPrefault(() => {
      calls++;
      return failing() as Promise<unknown>;
    });
    try {
      const large = Buffer.alloc(3 << 20, 7);
      await withServer(
        sharedBodyCheck(8 << 20, () => large),
        async (port) => assert.equal((await send(port, { method: "PUT", body: large })).body, "true same"),
      );
      assert.equal(calls, 1, "not asked again once it could not");
    } finally {
      setBodyPrefault(undefined);
    }
  }
});

const small = Buffer.from("a small body");

test("readSharedBodyFinding finds every delimiter as the body arrives, across chunk boundaries, declared or chunked", async () => {
  const needle = Buffer.from("\r\n--zz");
  const body = Buffer.alloc(300_000, 0x61);
  const at = [0, 100, 16_381, 65_533, 65_536 * 2 - 3, 131_075, 200_000, 300_000 - needle.length];
  for (const p of at) needle.copy(body, p);
  // A run of needles back to back, and one that a single byte keeps from matching.
  for (let k = 0; k < 3; k++) needle.copy(body, 250_000 + k * needle.length);
  needle.copy(body, 260_000, 0, needle.length - 1);
  const expected: number[] = [];
  for (let i = body.indexOf(needle); i >= 0; i = body.indexOf(needle, i + needle.length)) expected.push(i);
  assert.equal(expected.length, at.length + 3);
  await withServer(
    (req, res) => {
      readSharedBodyFinding(req, 1 << 20, needle).then(
        ({ body: b, found }) => sendText(res, 200, `${Buffer.from(b).equals(body)} ${JSON.stringify(found)}`),
        (e) => sendError(req, res, e),
      );
    },
    async (port) => {
      for (const chunked of [false, true])
        assert.equal((await send(port, { body, chunked })).body, `true ${JSON.stringify(expected)}`);
    },
  );
});

test("parseMultipart: parts by name as views of the body (binary, with a preamble or none, quoted boundary)", () => {
  const bin = Buffer.from([0, 0x61, 0x73, 0x6d, 13, 10, 45, 45, 0xff]);
  const body = Buffer.concat([
    Buffer.from('preamble\r\n--a b\r\nContent-Disposition: form-data; name="function"\r\n\r\n{"x":1}\r\n'),
    Buffer.from(
      '--a b\r\nContent-Disposition: form-data; filename="m.wasm"; name="code"\r\nContent-Type: application/wasm\r\n\r\n',
    ),
    bin,
    Buffer.from("\r\n--a b--\r\n"),
  ]);
  const parts = parseMultipart(body, 'multipart/form-data; boundary="a b"');
  assert.deepEqual([...parts.keys()], ["function", "code"]);
  assert.equal(Buffer.from(parts.get("function") as Uint8Array).toString(), '{"x":1}');
  assert.deepEqual(Buffer.from(parts.get("code") as Uint8Array), bin);
  assert.equal((parts.get("code") as Uint8Array).buffer, body.buffer, "a view, not a copy");
  const noPreamble = body.subarray(body.indexOf("--a b"));
  assert.deepEqual(
    [...parseMultipart(noPreamble, 'multipart/form-data; boundary="a b"').keys()],
    ["function", "code"],
  );
  assert.throws(
    () => parseMultipart(body, "multipart/form-data; boundary=zzz"),
    /malformed multipart\/form-data: no boundary/,
  );
});

test("a body over the limit is a 413 in the envelope that the client still reads while sending, declared or not", async () => {
  await withServer(echoLimited(100_000), async (port) => {
    for (const chunked of [false, true]) {
      // 8 MiB: far more than the socket buffers hold, so the answer comes while the client is still writing.
      const r = await send(port, { body: Buffer.alloc(8 << 20, 2), chunked });
      assert.equal(r.status, 413, `chunked=${chunked}`);
      assert.equal(r.headers["x-wasmlet-error"], "PAYLOAD_TOO_LARGE");
      assert.match(JSON.parse(r.body).error.message, /limit of 100000 bytes/);
    }
  });
});

test("readJson: empty is {}, bad JSON is INVALID_ARGUMENT naming the body", async () => {
  await withServer(
    (req, res) => {
      readJson(req, 1024).then(
        (v) => sendJson(res, 200, v),
        (e) => sendError(req, res, e),
      );
    },
    async (port) => {
      assert.equal((await send(port, {})).body, "{}");
      const bad = await send(port, { body: Buffer.from("{nope") });
      assert.equal(bad.status, 400);
      assert.match(JSON.parse(bad.body).error.message, /^body: not valid JSON/);
    },
  );
});

test("an early answer leaves the connection usable: the next request on it is served", async () => {
  let served = 0;
  await withServer(
    (req, res) => {
      served++;
      if (req.url === "/early") {
        finishEarly(req, res);
        sendText(res, 404, "no\n");
      } else readBody(req, 1 << 20).then((b) => sendText(res, 200, `ok ${b.length}`));
    },
    async (port) => {
      const { Agent } = await import("node:http");
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const one = (path: string, body: Buffer) =>
        new Promise<{ status: number; socket: unknown }>((resolve, reject) => {
          const req = request(
            {
              host: "127.0.0.1",
              port,
              method: "POST",
              path,
              agent,
              headers: { "content-length": body.length },
            },
            (res) => {
              res.resume();
              res.on("end", () => resolve({ status: res.statusCode ?? 0, socket: req.socket }));
            },
          );
          req.on("error", reject);
          req.end(body);
        });
      const a = await one("/early", Buffer.alloc(2 << 20, 1));
      const b = await one("/late", Buffer.alloc(10, 1));
      agent.destroy();
      assert.deepEqual([a.status, b.status], [404, 200]);
      assert.equal(a.socket, b.socket, "the second request reused the connection");
      assert.equal(served, 2);
    },
  );
});

test("sendError: the code's status, the envelope, the code header; INTERNAL causes go to the log only", async () => {
  const logged: string[] = [];
  await withServer(
    (req, res) => {
      const err =
        req.url === "/boom" ? new Error("secret detail") : new WasmletError("CONFLICT", "name: taken");
      sendError(req, res, err, { log: (l) => logged.push(l) });
    },
    async (port) => {
      const c = await send(port, { method: "GET", path: "/x" });
      assert.equal(c.status, 409);
      assert.deepEqual(JSON.parse(c.body), { error: { code: "CONFLICT", message: "name: taken" } });
      assert.equal(c.headers["x-wasmlet-error"], "CONFLICT");
      const boom = await send(port, { method: "GET", path: "/boom" });
      assert.equal(boom.status, 500);
      assert.equal(JSON.parse(boom.body).error.code, "INTERNAL");
      assert.match(logged.join("\n"), /secret detail/);
    },
  );
});

test("token check: bearer always, Basic's password only where allowed, nothing else", () => {
  const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
  assert.ok(carriesToken("Bearer s3cret", "s3cret"));
  assert.ok(carriesToken("bearer   s3cret ", "s3cret"));
  assert.ok(!carriesToken("Bearer s3cre", "s3cret"));
  assert.ok(!carriesToken(basic("u:s3cret"), "s3cret"), "Basic is refused unless allowed");
  assert.ok(carriesToken(basic("anyone:s3cret"), "s3cret", true));
  assert.ok(!carriesToken(basic("s3cret"), "s3cret", true), "Basic without a colon has no password");
  assert.ok(!carriesToken(undefined, "s3cret"));
  assert.equal(presentedSecret("Token s3cret"), undefined);
});

test("Dispatcher: first matching pattern, captures as params, * for any method, 405 with the allowed list", () => {
  const d = new Dispatcher<string>()
    .add(/^\/a\/([^/]+)$/, { GET: "get-a", PUT: "put-a" })
    .add(/^\/b(\/.*)?$/, { "*": "any-b" });
  assert.deepEqual(d.match("GET", "/a/x%20y"), { handler: "get-a", params: ["x%20y"] });
  assert.deepEqual(d.match("DELETE", "/a/x"), { allow: ["GET", "PUT"] });
  assert.deepEqual(d.match("PATCH", "/b"), { handler: "any-b", params: [undefined] });
  assert.equal(d.match("GET", "/c"), undefined);
});
