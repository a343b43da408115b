// `serve --busy-poll-us`: the request thread spins only while traffic is steady; an idle server uses no CPU.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { cli, deploy, example, type Server, startServer } from "./harness.js";

let server: Server;
before(async () => {
  // A long window (5 ms), so that a spin which failed to stop would show as a whole core of CPU below.
  server = await startServer(undefined, ["--busy-poll-us", "5000"]);
  await deploy(server, { name: "hello", code: example("hello/hello.wasm"), route: ["--url", "/hello"] });
});
after(async () => {
  await server?.stop();
});

/** CPU seconds the server's main thread (the request thread) has used. */
function mainThreadCpu(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
}

/** Times the request thread went to sleep by itself (in epoll_wait, when the loop has nothing to do). */
function mainThreadSleeps(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]);
}

test("requests are answered while the loop spins, and the server is idle again once they stop", async () => {
  const pid = server.proc.pid as number;
  // Back-to-back requests from 4 clients: gaps well inside the window, so the loop spins between them.
  const sleeps0 = mainThreadSleeps(pid);
  let answered = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 100; i++) {
        const r = await fetch(`${server.routerUrl}/hello`);
        assert.equal(r.status, 200);
        assert.equal(await r.text(), "hello\n");
        answered++;
      }
    }),
  );
  assert.equal(answered, 400);
  // Without the spin the thread sleeps between most requests (measured: ~1 sleep per request with
  // --busy-poll-us 0); with it, only when the clients fall behind by more than the window.
  const sleeps = mainThreadSleeps(pid) - sleeps0;
  assert.ok(
    sleeps < 100,
    `the request thread went to sleep ${sleeps} times during 400 back-to-back requests`,
  );
  // Traffic stops: within the window the spin ends, then the thread sleeps.
  await new Promise((r) => setTimeout(r, 100));
  const cpu1 = mainThreadCpu(pid);
  await new Promise((r) => setTimeout(r, 1000));
  const idle = mainThreadCpu(pid) - cpu1;
  assert.ok(idle < 0.1, `the idle server's request thread used ${(idle * 1000).toFixed(0)} ms of CPU in 1 s`);
});

test("--busy-poll-us rejects what is not a whole number of microseconds up to 10000", async () => {
  for (const bad of ["-1", "1.5", "abc", "10001"]) {
    const r = await cli(undefined, "serve", "--busy-poll-us", bad, "--listen", "127.0.0.1:0");
    assert.notEqual(r.code, 0, bad);
    assert.match(
      r.stderr,
      /--busy-poll-us: .* is not a whole number of microseconds from 0 to 10000/,
      r.stderr,
    );
  }
});
