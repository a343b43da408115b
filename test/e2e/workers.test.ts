// `serve --workers 2`: router processes share the public port, follow the store, and are replaced if they die.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { cli, example, type Server, show, startServer } from "./harness.js";

let server: Server;
before(async () => {
  server = await startServer(undefined, ["--workers", "2"]);
});
after(async () => {
  await server?.stop();
});

function routerPids(): number[] {
  const out = execFileSync("ps", ["--ppid", String(server.proc.pid), "-o", "pid=,args="], {
    encoding: "utf8",
  });
  return out
    .split("\n")
    .filter((l) => l.includes("router-worker"))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

async function waitFor200(url: string, ms: number): Promise<Response> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await fetch(url).catch(() => undefined);
    if (r?.status === 200) return r;
    if (Date.now() > end) throw new Error(`${url} did not answer 200 within ${ms} ms (last: ${r?.status})`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

test("functions deployed through the API serve from every router process", async () => {
  assert.equal(routerPids().length, 2);
  const c = await cli(
    server,
    "fn",
    "create",
    "--name",
    "echo",
    "--code",
    example("wagi-echo/echo.wasm"),
    "--contract",
    "wagi",
  );
  assert.equal(c.code, 0, show(c));
  const r = await cli(server, "route", "create", "--name", "echo", "--function", "echo", "--prefix", "/echo");
  assert.equal(r.code, 0, show(r));
  // Routers learn of the route from the store's change feed (polled across processes).
  await waitFor200(`${server.routerUrl}/echo/a`, 2000);
  // Many connections: node's cluster spreads them over both routers; every one answers the same.
  const bodies = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const res = await fetch(`${server.routerUrl}/echo/${i}`, { headers: { connection: "close" } });
      assert.equal(res.status, 200);
      return res.text();
    }),
  );
  for (const [i, b] of bodies.entries()) assert.match(b, new RegExp(`path: /${i}\\n`));
});

test("a router process that dies is replaced and the port keeps serving", async () => {
  const [victim] = routerPids();
  process.kill(victim, "SIGKILL");
  await waitFor200(`${server.routerUrl}/echo/after`, 5000);
  const end = Date.now() + 5000;
  while (routerPids().length < 2 || routerPids().includes(victim)) {
    if (Date.now() > end) throw new Error(`router processes: ${routerPids().join(", ")}`);
    await new Promise((res) => setTimeout(res, 100));
  }
});
