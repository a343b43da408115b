// The runtime's failure mapping (ARCHITECTURE "Failure semantics"), with a scripted executor (service.test.ts runs
// the real one): what each kind of
// run result becomes for the caller and in the log, the function gate, deadlines and image loading.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_LIMITS, type Digest, type FunctionRecord, type LoadedImage } from "../core/index.js";
import { Runtime } from "./service.js";
import type { Executor, InvocationRecord, InvocationRequest, RunResult } from "./types.js";

const DIGEST = `sha256:${"a".repeat(64)}` as Digest;

function fn(limits: Partial<FunctionRecord["limits"]> = {}): FunctionRecord {
  const v = { version: 1, image: "r/f:1", digest: DIGEST, createdAt: "2026-01-01T00:00:00Z" };
  return {
    name: "f",
    contract: "command",
    args: [],
    env: {},
    limits: { ...DEFAULT_LIMITS, ...limits },
    current: v,
    versions: [v],
    createdAt: v.createdAt,
    updatedAt: v.createdAt,
  };
}

function request(body = ""): InvocationRequest {
  return {
    method: "POST",
    url: "/f",
    path: "/f",
    query: "",
    headers: {},
    body: Buffer.from(body),
    remoteAddr: "127.0.0.1",
    remotePort: 1,
    serverName: "localhost",
    serverPort: 80,
    protocol: "HTTP/1.1",
    route: { pattern: "/f", scriptName: "/f", pathInfo: "", params: {} },
  };
}

const out = (stdout: string, extra: Partial<RunResult> = {}): RunResult => ({
  exitCode: 0,
  stdout: Buffer.from(stdout),
  stderr: Buffer.from(""),
  durationMs: 1,
  ...extra,
});

/** An executor that answers each run with the next scripted result (after `delayMs`), and counts prepares. */
function scripted(results: RunResult[], delayMs = 0) {
  let prepared = 0;
  const executor: Executor = {
    async prepare() {
      prepared++;
    },
    isPrepared: () => prepared > 0,
    run: async () => {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      return results.length > 1 ? (results.shift() as RunResult) : results[0];
    },
    async close() {},
  };
  return { executor, prepares: () => prepared };
}

const image: LoadedImage = { digest: DIGEST, entry: "/f.wasm", module: new Uint8Array(), files: new Map() };

function runtime(executor: Executor, loadImage = async () => image) {
  const logs: InvocationRecord[] = [];
  return { rt: new Runtime({ executor, loadImage, onLog: (r) => logs.push(r) }), logs };
}

test("each kind of failed run is the status the design names, with the reason in the body and the log", async () => {
  const cases: [RunResult["error"], number, RegExp][] = [
    [{ kind: "timeout", message: "deadline" }, 504, /timed out after 10000 ms/],
    [{ kind: "exit", message: "exited with status 3" }, 500, /exited with status 3/],
    [{ kind: "trap", message: "unreachable" }, 500, /failed: unreachable/],
    [{ kind: "oom", message: "memory over 128 MiB" }, 500, /memory over 128 MiB/],
    [{ kind: "output", message: "more than 5 bytes to stdout" }, 500, /more than 5 bytes/],
    [{ kind: "cancelled", message: "the caller went away" }, 499, /caller went away/],
    [{ kind: "internal", message: "worker died" }, 500, /worker died/],
  ];
  for (const [error, status, why] of cases) {
    const { rt, logs } = runtime(
      scripted([out("partial", { error, stderr: Buffer.from("oops\n") })]).executor,
    );
    const r = await rt.invoke(fn(), request());
    assert.equal(r.status, status, error?.kind);
    const body = Buffer.from(r.body).toString();
    assert.match(body, why);
    assert.doesNotMatch(body, /partial/, "a failed run's stdout is never sent");
    assert.equal(logs.length, 1);
    assert.equal(logs[0].status, status);
    assert.match(logs[0].error ?? "", why);
    assert.equal(Buffer.from(logs[0].stderr).toString(), "oops\n");
  }
});

test("a good run answers through the contract and is logged with its status; stderr keeps its tail only", async () => {
  const long = `${"x".repeat(20_000)}END`;
  const { rt, logs } = runtime(scripted([out("hello\n", { stderr: Buffer.from(long) })]).executor);
  const r = await rt.invoke(fn(), request());
  assert.equal(r.status, 200);
  assert.equal(Buffer.from(r.body).toString(), "hello\n");
  assert.equal(logs[0].status, 200);
  assert.equal(logs[0].error, undefined);
  assert.ok(logs[0].stderr.byteLength <= 8192);
  assert.match(Buffer.from(logs[0].stderr).toString(), /END$/);
});

test("a body over the function's limit is 413 before anything runs", async () => {
  const s = scripted([out("ran")]);
  const { rt } = runtime(s.executor);
  const r = await rt.invoke(fn({ maxBodyBytes: 4 }), request("12345"));
  assert.equal(r.status, 413);
  assert.equal(s.prepares(), 0, "the image was not even loaded");
});

test("an image that cannot be loaded is 502 naming it; the next call tries again", async () => {
  let fail = true;
  const { rt } = runtime(scripted([out("ok")]).executor, async () => {
    if (fail) throw new Error("connection refused");
    return image;
  });
  const r = await rt.invoke(fn(), request());
  assert.equal(r.status, 502);
  assert.match(Buffer.from(r.body).toString(), /cannot load image r\/f:1: connection refused/);
  fail = false;
  assert.equal((await rt.invoke(fn(), request())).status, 200);
});

test("concurrency and queue: the overflow is 503 with Retry-After at once; a waiter past its deadline is 504", async () => {
  const { rt } = runtime(scripted([out("ok")], 200).executor);
  const f = fn({ concurrency: 1, queue: 1, timeoutMs: 60 });
  const t0 = performance.now();
  const timed = () =>
    rt.invoke(f, { ...request(), arrivedAt: t0 }).then((r) => ({ r, ms: performance.now() - t0 }));
  const [first, second, third] = await Promise.all([timed(), timed(), timed()]);
  // The scripted executor ignores deadlines: the first run answers 200 after 200 ms.
  assert.equal(first.r.status, 200);
  assert.equal(second.r.status, 504, "the waiter's deadline counts from its arrival, not its turn");
  assert.ok(
    second.ms < 180,
    `the waiter answered after ${second.ms.toFixed(0)} ms, not at its 60 ms deadline`,
  );
  assert.equal(third.r.status, 503);
  assert.deepEqual(
    third.r.headers.find(([k]) => k === "retry-after"),
    ["retry-after", "1"],
  );
  assert.ok(third.ms < 50, `the 503 took ${third.ms.toFixed(0)} ms`);
});

test("concurrent first calls prepare a digest once", async () => {
  const s = scripted([out("ok")]);
  const { rt } = runtime(s.executor);
  await Promise.all(Array.from({ length: 5 }, () => rt.invoke(fn(), request())));
  assert.equal(s.prepares(), 1);
});
