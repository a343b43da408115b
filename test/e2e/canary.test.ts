// Weighted routes (issue 16, canary releases) through the real server and CLI: traffic split by weight, a
// sticky key, a forced side, weight 0, and `route update` moving traffic at once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cli, example, type Server, show, startServer } from "./harness.js";

let server: Server;
before(async () => {
  server = await startServer();
  for (const side of ["stable", "canary"]) {
    const r = await cli(
      server,
      "fn",
      "create",
      "--name",
      side,
      "--code",
      example("wagi-echo/echo.wasm"),
      "--contract",
      "wagi",
      "--env",
      `GREETING=${side}`,
    );
    assert.equal(r.code, 0, show(r));
  }
});
after(async () => {
  await server?.stop();
});

async function side(headers: Record<string, string> = {}): Promise<string> {
  const r = await fetch(`${server.routerUrl}/shop`, { headers });
  assert.equal(r.status, 200);
  return (await r.text()).split(" ")[0];
}

async function count(n: number, headers: (i: number) => Record<string, string> = () => ({})) {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => side(headers(i + j))));
    for (const s of batch) out[s] = (out[s] ?? 0) + 1;
  }
  return out;
}

test("route create --function a=90 --function b=10 splits traffic by weight; route update moves it at once", async () => {
  const c = await cli(
    server,
    "route",
    "create",
    "--name",
    "shop",
    "--function",
    "stable=90",
    "--function",
    "canary=10",
    "--url",
    "/shop",
  );
  assert.equal(c.code, 0, show(c));
  assert.match(c.stdout, /-> stable=90, canary=10/);
  const split = await count(2000);
  assert.ok(split.canary >= 140 && split.canary <= 260, `canary got ${split.canary} of 2000`);
  assert.equal(split.stable + split.canary, 2000);
  assert.match((await cli(server, "route", "list")).stdout, /stable=90, canary=10/);

  // A caller with a key stays on its side.
  for (let k = 0; k < 20; k++) {
    const first = await side({ "x-wasmlet-route-key": `user-${k}` });
    for (let j = 0; j < 3; j++) assert.equal(await side({ "x-wasmlet-route-key": `user-${k}` }), first);
  }

  const u = await cli(
    server,
    "route",
    "update",
    "--name",
    "shop",
    "--function",
    "stable=100",
    "--function",
    "canary=0",
  );
  assert.equal(u.code, 0, show(u));
  assert.deepEqual(await count(500), { stable: 500 }, "weight 0 receives nothing");
  assert.equal(
    await side({ "x-wasmlet-function": "canary" }),
    "canary",
    "a forced side is served at weight 0",
  );
  assert.equal(
    await side({ "x-wasmlet-function": "elsewhere" }),
    "stable",
    "a name not on the route is ignored",
  );

  const bad = await cli(
    server,
    "route",
    "update",
    "--name",
    "shop",
    "--function",
    "stable=0",
    "--function",
    "canary=0",
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /at least one weight must be above 0/);
  assert.deepEqual(await count(100), { stable: 100 }, "a refused update changes nothing");

  assert.equal((await cli(server, "route", "update", "--name", "shop", "--function", "canary")).code, 0);
  assert.deepEqual(await count(100), { canary: 100 });
});
