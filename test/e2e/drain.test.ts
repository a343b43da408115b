// Graceful drain of `wasmlet serve` on SIGTERM (what Kubernetes sends a pod it stops): readiness 503 at once, no new
// connections, requests in flight finish with `Connection: close`, exit 0 within --drain-timeout; a second signal
// stops at once. With one process and with router processes (--workers 2).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ApiClient } from "../../src/client/index.js";
import { deploy, example, fixture, type Server, startServer } from "./harness.js";

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

/** A GET on a connection of its own, kept alive if the server lets it. */
function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: "keep-alive" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** A connection that has sent all of a GET but its last line; `finish` sends it and resolves with the status line. */
async function halfSent(url: string, path: string): Promise<{ finish(): Promise<string> }> {
  const u = new URL(url);
  const socket: Socket = connect(Number(u.port), u.hostname);
  await new Promise<void>((r, j) => socket.once("connect", r).once("error", j));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\n`);
  return {
    finish: () =>
      new Promise((resolve, reject) => {
        let got = "";
        socket.on("data", (d) => {
          got += d;
        });
        socket.on("end", () => resolve(got));
        socket.on("error", reject);
        socket.write("\r\n");
      }),
  };
}

function exited(server: Server): Promise<{ code: number | null; at: number }> {
  return new Promise((r) => server.proc.once("exit", (code) => r({ code, at: performance.now() })));
}

async function withSleeper(
  extraArgs: string[],
  ms: number,
  body: (server: Server) => Promise<void>,
  dataDir?: string,
) {
  const server = await startServer(dataDir, extraArgs);
  try {
    await deploy(server, {
      name: "sleeper",
      code: fixture("sleep.wasm"),
      args: ["--arg", String(ms), "--timeout", "20000"],
      route: ["--url", "/slow"],
    });
    // Routes reach the router processes through the store's feed, in order: once this one answers, /slow is there.
    await deploy(server, {
      name: "echo",
      code: example("wagi-echo/echo.wasm"),
      args: ["--contract", "wagi"],
      route: ["--url", "/echo"],
    });
    for (let i = 0; i < 100 && (await fetch(`${server.routerUrl}/echo`)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 50));
    await body(server);
  } finally {
    await server.stop();
  }
}

for (const workers of [1, 2]) {
  test(`--workers ${workers}: SIGTERM lets a slow request finish, refuses new connections, exits 0`, async () => {
    await withSleeper(["--workers", String(workers), "--drain-timeout", "15"], 2000, async (server) => {
      for (const probe of ["/readyz", "/livez", "/healthz"]) {
        assert.equal((await get(`${server.routerUrl}${probe}`)).status, 200, `router ${probe}`);
        assert.equal((await get(`${server.controlUrl}${probe}`)).status, 200, `control ${probe}`);
      }
      const probe = await halfSent(server.routerUrl, "/readyz");
      const slow = get(`${server.routerUrl}/slow`);
      // The request reaches the function before the signal.
      await new Promise((r) => setTimeout(r, 500));
      const exit = exited(server);
      const signalled = performance.now();
      server.proc.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 300));
      // Readiness is 503 on a connection opened before; a new connection is refused on both ports.
      assert.match(await probe.finish(), /^HTTP\/1\.1 503 /);
      await assert.rejects(get(`${server.routerUrl}/readyz`), /ECONNREFUSED/);
      await assert.rejects(get(`${server.controlUrl}/healthz`), /ECONNREFUSED/);
      const answer = await slow;
      assert.deepEqual(answer, { status: 200, connection: "close", body: "slept\n" });
      const { code, at } = await exit;
      assert.equal(code, 0, server.output());
      assert.ok(at - signalled < 10_000, `exited ${Math.round(at - signalled)} ms after SIGTERM`);
      assert.match(server.output(), /SIGTERM: draining \(up to 15 s/);
      assert.match(server.output(), /drained in \d+ ms; stopped/);
    });
  });
}

for (const workers of [1, 2])
  test(`--workers ${workers}: past --drain-timeout the request is cut, counted, and the process still exits 0`, async () => {
    await withSleeper(["--workers", String(workers), "--drain-timeout", "1"], 8000, async (server) => {
      const slow = get(`${server.routerUrl}/slow`);
      await new Promise((r) => setTimeout(r, 500));
      const exit = exited(server);
      const signalled = performance.now();
      server.proc.kill("SIGTERM");
      await assert.rejects(slow, /socket hang up|ECONNRESET/);
      const { code, at } = await exit;
      assert.equal(code, 0, server.output());
      const ms = at - signalled;
      assert.ok(ms >= 900 && ms < 6000, `exited ${Math.round(ms)} ms after SIGTERM (timeout 1 s)`);
      assert.match(server.output(), /drain timeout after \d+ ms: 1 requests cut/);
    });
  });

test("a second signal stops at once", async () => {
  await withSleeper(["--drain-timeout", "20"], 8000, async (server) => {
    const slow = get(`${server.routerUrl}/slow`).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 500));
    const exit = exited(server);
    server.proc.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 300));
    const again = performance.now();
    server.proc.kill("SIGINT");
    const { code, at } = await exit;
    assert.equal(code, 1, server.output());
    assert.ok(at - again < 2000, `exited ${Math.round(at - again)} ms after the second signal`);
    assert.match(server.output(), /SIGINT again: stopping at once/);
    assert.ok((await slow) instanceof Error, "the request in flight was cut");
  });
});

test("an asynchronous invocation running at SIGTERM finishes before the exit, and is not run again", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "wasmlet-drain-"));
  try {
    let id = "";
    await withSleeper(
      ["--drain-timeout", "15"],
      1500,
      async (server) => {
        const res = await fetch(`${server.routerUrl}/slow`, { headers: { prefer: "respond-async" } });
        assert.equal(res.status, 202);
        id = ((await res.json()) as { id: string }).id;
        const api = new ApiClient({ server: server.controlUrl });
        // The runner claims it within its 100 ms poll.
        for (let i = 0; i < 50 && (await api.getInvocation(id)).status !== "running"; i++)
          await new Promise((r) => setTimeout(r, 20));
        assert.equal((await api.getInvocation(id)).status, "running");
        const exit = exited(server);
        server.proc.kill("SIGTERM");
        assert.equal((await exit).code, 0, server.output());
      },
      dataDir,
    );
    // The next start finds it done, with one attempt: nothing was left running for it to requeue.
    const again = await startServer(dataDir);
    try {
      const inv = await new ApiClient({ server: again.controlUrl }).getInvocation(id);
      assert.equal(inv.status, "succeeded");
      assert.equal(inv.attempts, 1);
      assert.doesNotMatch(again.output(), /interrupted by a stop/);
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
