// What a caller sees when a function misbehaves, and that one function's failure never leaks into another.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cli, deploy, example, fixture, type Server, show, startServer } from "./harness.js";

let server: Server;
before(async () => {
  server = await startServer();
  const fns: [string, string, string[]][] = [
    ["fast", example("hello/hello.wasm"), []],
    ["loop", fixture("loop.wasm"), ["--timeout", "1000"]],
    ["bomb", fixture("bomb.wasm"), ["--memory", "16"]],
    ["trap", fixture("trap.wasm"), []],
    ["fail", fixture("fail.wasm"), []],
    ["state", fixture("state.wasm"), ["--timeout", "300"]],
    ["small", example("hello/hello.wasm"), ["--max-body", "1024"]],
  ];
  for (const [name, code, args] of fns) {
    await deploy(server, {
      name,
      code,
      args,
      route: ["--url", `/${name}`, "--method", "GET", "--method", "POST"],
    });
  }
});
after(async () => {
  await server?.stop();
});

const get = async (path: string, init?: RequestInit) => {
  const t0 = performance.now();
  const res = await fetch(`${server.routerUrl}${path}`, init);
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - t0 };
};

async function lastLog(name: string): Promise<string> {
  for (let i = 0; i < 30; i++) {
    const r = await cli(server, "fn", "logs", "--name", name);
    if (r.code === 0 && r.stdout.trim()) return r.stdout;
    await new Promise((res) => setTimeout(res, 100));
  }
  return "";
}

test("an endless loop gets 504 at its timeout and does not delay another function", async () => {
  const looping = get("/loop");
  const latencies: number[] = [];
  // Keep calling another function while the loop runs.
  const deadline = performance.now() + 900;
  while (performance.now() < deadline) {
    const r = await get("/fast");
    assert.equal(r.status, 200);
    latencies.push(r.ms);
  }
  const loop = await looping;
  assert.equal(loop.status, 504, loop.body);
  assert.ok(loop.ms >= 950 && loop.ms < 3000, `loop answered after ${loop.ms} ms`);
  assert.ok(latencies.length >= 10, `only ${latencies.length} requests got through while the loop ran`);
  const worst = Math.max(...latencies);
  assert.ok(worst < 250, `another function waited ${worst.toFixed(1)} ms while the loop ran`);
  assert.match(await lastLog("loop"), /504/);
});

test("a memory bomb gets 500 and the cap is named in the log", async () => {
  const r = await get("/bomb");
  assert.equal(r.status, 500, r.body);
  assert.match(r.body + (await lastLog("bomb")), /memory limit of 16 MiB/);
});

test("a trap is 500 with the trap and stderr in the function's log", async () => {
  const r = await get("/trap");
  assert.equal(r.status, 500, r.body);
  const log = await lastLog("trap");
  assert.match(log, /unreachable/);
  assert.match(log, /about to crash/);
});

test("a non-zero exit is 500 with its status and stderr in the log; fn test exits with it, printing the stderr", async () => {
  const r = await get("/fail");
  assert.equal(r.status, 500, r.body);
  assert.match(r.body, /status 3/);
  // A command function's fn test is the program run: its stderr, its exit status.
  const t = await cli(server, "fn", "test", "--name", "fail");
  assert.equal(t.code, 3, show(t));
  assert.equal(t.stderr, "cannot do that\n");
});

test("a body over the function's limit gets 413; one under it is served", async () => {
  assert.equal((await get("/small", { method: "POST", body: "x".repeat(2048) })).status, 413);
  assert.equal((await get("/small", { method: "POST", body: "x".repeat(512) })).status, 200);
});

test("every invocation sees a clean instance: memory, heap, files, env; also after a trap, a memory.grow and a timeout", async () => {
  const clean = "counter=1 heap=0 file=0 env=0\n";
  // The timeout moves the function to a worker thread: the same guarantee must hold there.
  for (const step of [
    "",
    "",
    "?arg=trap",
    "",
    "?arg=grow",
    "",
    "?arg=spin",
    "",
    "?arg=grow",
    "",
    "?arg=trap",
    "",
  ]) {
    const r = await get(`/state${step}`);
    if (step === "?arg=trap") assert.equal(r.status, 500);
    else if (step === "?arg=spin") assert.equal(r.status, 504);
    else assert.equal(r.body, clean, `after ${step || "a plain call"}`);
  }
});

test("unknown routes are 404", async () => {
  const r = await get("/no/such/route");
  assert.equal(r.status, 404);
  assert.match(r.body, /no route/);
});
