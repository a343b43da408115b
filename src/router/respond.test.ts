import assert from "node:assert/strict";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { Writable } from "node:stream";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { type InvocationResponse, parseCgiOutput } from "../runtime/index.js";
import { OutputBudget, sendResponse } from "./respond.js";

/** A ServerResponse over a socket that keeps what is written, as the router's writer sees a real one. */
function response(method = "GET"): { res: ServerResponse; written: () => string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
    writev(list, cb) {
      for (const { chunk } of list) chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  const socket = sink as unknown as Socket;
  const req = new IncomingMessage(new Socket());
  req.method = method;
  const res = new ServerResponse(req);
  res.assignSocket(socket);
  return { res, written: () => Buffer.concat(chunks).toString("latin1") };
}

/** xorshift32: the fuzz cases are the same on every run, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const NAMES = [
  "Content-Type",
  "Status",
  "Location",
  "X-A",
  "Set-Cookie",
  "Content-Length",
  "Transfer-Encoding",
  "Connection",
  "constructor",
  "__proto__",
  "X Bad",
  "",
  "Ä",
  "X-\u0000",
];
const VALUES = [
  "text/plain",
  "200 OK",
  "204",
  "304",
  "100",
  "101",
  "404",
  "599",
  "600",
  "-1",
  "abc",
  "/x",
  "a=b",
  "chunked",
  "close",
  "5",
  "",
];
const ODD = ["\r", "\n", "\u0000", "\u007f", "\u00ff", "\u0080", "\u000b", "\t", " ", ":", "é"];

/** Header-shaped output: mostly well-formed lines with random names, values and now and then an odd character. */
function randomOutput(next: () => number): Uint8Array {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)];
  let s = "";
  const lines = Math.floor(next() * 6);
  for (let i = 0; i < lines; i++) {
    let line = `${pick(NAMES)}:${next() < 0.8 ? " " : ""}${pick(VALUES)}`;
    while (next() < 0.05) {
      const at = Math.floor(next() * (line.length + 1));
      line =
        line.slice(0, at) +
        (next() < 0.7 ? pick(ODD) : String.fromCharCode(Math.floor(next() * 256))) +
        line.slice(at);
    }
    s += line + (next() < 0.9 ? "\n" : "\r\n");
  }
  if (next() < 0.9) s += "\n";
  if (next() < 0.5) s += "body";
  return Buffer.from(s, "latin1");
}

test("fuzz: 100,000 random CGI outputs through the parser and the response writer never throw or send bad HTTP", () => {
  const next = rng(0x5eed);
  const started = performance.now();
  const counts = { parsed: 0, refused: 0 };
  let i = 0;
  for (; i < 100_000 && performance.now() - started < 60_000; i++) {
    const stdout = randomOutput(next);
    let parsed: InvocationResponse;
    try {
      parsed = parseCgiOutput({ exitCode: 0, stdout, stderr: new Uint8Array(0) });
    } catch (e) {
      assert.ok(isWasmletError(e, "BAD_GATEWAY"), `case ${i}: ${e}`);
      counts.refused++;
      continue;
    }
    counts.parsed++;
    const { res, written } = response();
    const sent = sendResponse(res, parsed);
    // What the parser admits, node sends as it is: the writer never has to turn it into a 502.
    assert.equal(sent, parsed.status, `case ${i}: ${JSON.stringify(Buffer.from(stdout).toString("latin1"))}`);
    const head = written();
    assert.match(head, /^HTTP\/1\.1 [2-5]\d\d /, `case ${i}`);
    if (parsed.status === 204 || parsed.status === 304)
      assert.doesNotMatch(
        head,
        /\r\ncontent-length:/i,
        `case ${i}: no Content-Length on ${parsed.status}: ${JSON.stringify(head)}`,
      );
    assert.equal(head.split("\r\n\r\n")[0].split("\r\n").length - 1 >= 1, true);
  }
  assert.equal(i, 100_000, `only ${i} cases in the time allowed`);
  assert.ok(counts.parsed > 10_000 && counts.refused > 10_000, JSON.stringify(counts));
});

test("a response node would refuse becomes a 502 naming the problem, never a throw", () => {
  const cases: InvocationResponse[] = [
    { status: 200, headers: [["x-a", "a\rB"]], body: new Uint8Array(0) },
    { status: 200, headers: [["bad name", "v"]], body: new Uint8Array(0) },
    { status: 100, headers: [], body: new Uint8Array(0) },
    { status: 700, headers: [], body: new Uint8Array(0) },
  ];
  for (const c of cases) {
    const { res, written } = response();
    assert.equal(sendResponse(res, c), 502);
    assert.match(written(), /^HTTP\/1\.1 502 [\s\S]*the function's response is invalid/);
  }
});

test("204 and 304 go out without a body or Content-Length; framing headers of the function are dropped", () => {
  for (const status of [204, 304]) {
    const { res, written } = response();
    sendResponse(res, { status, headers: [["content-length", "9"]], body: Buffer.from("ignored") });
    const out = written();
    assert.doesNotMatch(out, /content-length|ignored/i);
  }
  const { res, written } = response();
  sendResponse(res, {
    status: 200,
    headers: [
      ["content-length", "999"],
      ["transfer-encoding", "chunked"],
      ["x-ok", "1"],
    ],
    body: Buffer.from("hello"),
  });
  const out = written();
  assert.match(out, /content-length: 5\r\n/);
  assert.doesNotMatch(out, /chunked|999/);
  assert.match(out, /x-ok: 1/);
});

test("large bodies are held against the output budget until the client has them; past it, 503 with Retry-After", () => {
  const budget = new OutputBudget(300_000);
  const big = { status: 200, headers: [], body: new Uint8Array(200_000) } satisfies InvocationResponse;
  const first = response();
  assert.equal(sendResponse(first.res, big, budget), 200);
  assert.equal(budget.heldBytes, 200_000);
  const second = response();
  assert.equal(sendResponse(second.res, big, budget), 503);
  assert.match(second.written(), /retry-after: 1/i);
  first.res.emit("close");
  assert.equal(budget.heldBytes, 0);
  const third = response();
  assert.equal(sendResponse(third.res, big, budget), 200);
  // Small bodies are not counted.
  assert.equal(
    sendResponse(response().res, { status: 200, headers: [], body: new Uint8Array(10) }, budget),
    200,
  );
  assert.equal(budget.heldBytes, 200_000);
});
