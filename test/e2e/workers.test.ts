// `serve --workers 2`: router processes share the public port, follow the store, and are replaced if they die.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { deploy, example, type Server, startServer, waitFor } from "./harness.js";

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
  let last: number | undefined;
  return waitFor(
    async () => {
      const r = await fetch(url).catch(() => undefined);
      last = r?.status;
      return r?.status === 200 ? r : undefined;
    },
    { ms, intervalMs: 20, what: () => `${url} did not answer 200 within ${ms} ms (last: ${last})` },
  );
}

test("functions deployed through the API serve from every router process", async () => {
  assert.equal(routerPids().length, 2);
  await deploy(server, {
    name: "echo",
    code: example("wagi-echo/echo.wasm"),
    args: ["--contract", "wagi"],
    route: ["--prefix", "/echo"],
  });
  // Routers learn of the route from the store's change feed; the serve process tells them at once.
  const t0 = Date.now();
  await waitFor200(`${server.routerUrl}/echo/a`, 2000);
  assert.ok(Date.now() - t0 < 100, `the route served ${Date.now() - t0} ms after it was created`);
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
  await waitFor(async () => (routerPids().length < 2 || routerPids().includes(victim) ? undefined : true), {
    ms: 5000,
    what: () => `router processes: ${routerPids().join(", ")}`,
  });
});
