// Several nodes on one etcd cluster: each `wasmlet serve --store etcd://…` process on its own loopback address
// (127.0.0.1/2/3), a real 3-member etcd, functions created on one node served by the others.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EtcdCluster, etcdMissing } from "../../src/store/test-support.js";
import { cli, deploy, example, type Server, show, startRouterNode, startServer } from "./harness.js";

const missing = etcdMissing();
/** Node 1's control port is fixed (from the etcd tests' range): function images name it, and it must survive a restart. */
const NODE1_CONTROL_PORT = 22990;

async function status(url: string): Promise<number> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}

/** Polls `url` until it answers 200; returns the milliseconds that took. */
async function firstOk(url: string, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await status(url)) === 200) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${url} did not answer 200 within ${ms} ms`);
}

test("three nodes on etcd: create on one, served by the others; a router killed, etcd's leader stopped, everything restarted", {
  skip: missing,
  timeout: 120_000,
}, async () => {
  const etcd = await EtcdCluster.start();
  const dirs = [1, 2, 3].map(() => mkdtempSync(join(tmpdir(), "wasmlet-node-")));
  const nodes: (Server | undefined)[] = [];
  const store = ["--store", `etcd://${etcd.endpoints.map((e) => new URL(e).host).join(",")}`];
  // Nodes 1 and 2 run everything; node 3 is a router only.
  const start = async (i: number): Promise<Server> => {
    const at = [
      "--listen",
      `127.0.0.${i + 1}:0`,
      "--control",
      `127.0.0.${i + 1}:${i === 0 ? NODE1_CONTROL_PORT : 0}`,
    ];
    if (i < 2) return startServer(dirs[i], [...store, ...at]);
    return startRouterNode(dirs[i], [...store, ...at]);
  };
  try {
    for (let i = 0; i < 3; i++) nodes[i] = await start(i);
    const [n1, n2, n3] = nodes as Server[];
    const listed = await cli(n2, "node", "list");
    assert.equal(listed.code, 0, show(listed));
    const rows = listed.stdout.trim().split("\n").slice(1);
    assert.equal(rows.length, 3, `three live nodes:\n${listed.stdout}`);
    assert.equal(
      rows.filter((r) => / yes /.test(r)).length,
      1,
      `exactly one runs the duties:\n${listed.stdout}`,
    );
    for (let i = 1; i <= 3; i++) assert.match(listed.stdout, new RegExp(`http://127\\.0\\.0\\.${i}:`));
    assert.match(
      rows.find((r) => r.includes("127.0.0.3")) ?? "",
      / router /,
      "node 3 registered as a router",
    );
    assert.doesNotMatch(
      rows.find((r) => r.includes("127.0.0.3")) ?? "",
      / yes /,
      "a router never runs the duties",
    );
    const noApi = await fetch(`${n3.controlUrl}/api/v1/functions`);
    assert.equal(noApi.status, 404, "a router node has no control API");
    assert.match(await noApi.text(), /--role router/);
    await deploy(n1, {
      name: "hello",
      code: example("hello/hello.wasm"),
      args: ["--arg", "7"],
      route: ["--prefix", "/hello"],
    });
    const created = Date.now();
    const [on2, on3] = await Promise.all([
      firstOk(`${n2.routerUrl}/hello`),
      firstOk(`${n3.routerUrl}/hello`),
    ]);
    const served = Date.now() - created;
    process.stdout.write(`# create on node 1 -> 200 on node 2: ${on2} ms, node 3: ${on3} ms\n`);
    assert.ok(served < 1000, `served by nodes 2 and 3 within 1 s of the create (${served} ms)`);
    assert.equal(await (await fetch(`${n3.routerUrl}/hello`)).text(), "hello\n7\n");

    // Load on all three; node 3 is killed in the middle. Requests to nodes 1 and 2 must keep succeeding.
    let stop = false;
    const errors = [0, 0, 0];
    const oks = [0, 0, 0];
    const load = [n1, n2, n3].map(async (n, i) => {
      while (!stop) {
        if ((await status(`${n.routerUrl}/hello`)) === 200) oks[i]++;
        else errors[i]++;
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    await n3.kill();
    nodes[2] = undefined;
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(load);
    process.stdout.write(
      `# kill -9 node 3 under load: ok ${oks.join("/")}, errors ${errors.join("/")} (nodes 1/2/3)\n`,
    );
    assert.deepEqual(errors.slice(0, 2), [0, 0], "the surviving nodes failed no request");
    assert.ok(oks[0] > 0 && oks[1] > 0);

    // Stop etcd's leader: writes through node 1 resume, and node 2 serves what was written.
    const leader = await etcd.leader();
    await etcd.kill(leader);
    const t0 = Date.now();
    await deploy(n1, {
      name: "echo",
      code: example("wagi-echo/echo.wasm"),
      args: ["--contract", "wagi"],
      route: ["--prefix", "/echo"],
    });
    process.stdout.write(
      `# with etcd's leader stopped: a function and a route created in ${Date.now() - t0} ms\n`,
    );
    await firstOk(`${n2.routerUrl}/echo/x`, 5000);
    // Node 3's lease has expired by now (5 s after its kill): it is gone from the list.
    const nodesNow = async () =>
      ((await (await fetch(`${n1.controlUrl}/api/v1/nodes`)).json()) as { items: { routerUrl: string }[] })
        .items;
    for (let t = Date.now(); (await nodesNow()).length > 2 && Date.now() - t < 10_000; )
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual((await nodesNow()).map((n) => new URL(n.routerUrl).hostname).sort(), [
      "127.0.0.1",
      "127.0.0.2",
    ]);

    // Restart everything: etcd, then the nodes. Nothing acknowledged is lost.
    for (const n of nodes) await n?.kill();
    for (const i of etcd.running()) await etcd.kill(i);
    for (let i = 0; i < 3; i++) etcd.restart(i);
    await etcd.waitHealthy(15_000);
    for (let i = 0; i < 3; i++) nodes[i] = await start(i);
    for (const n of nodes as Server[]) {
      assert.equal(await status(`${n.routerUrl}/hello`), 200, `hello on ${n.routerUrl}`);
      assert.equal(await status(`${n.routerUrl}/echo/y`), 200, `echo on ${n.routerUrl}`);
    }
    const list = await cli(nodes[1], "fn", "list");
    assert.match(list.stdout, /hello/, show(list));
    assert.match(list.stdout, /echo/, show(list));
    // Node 1 holds the functions' images (its registry): with it gone, the others serve what they have loaded.
    await nodes[0]?.kill();
    nodes[0] = undefined;
    for (const n of [nodes[1], nodes[2]] as Server[]) {
      assert.equal(await status(`${n.routerUrl}/hello`), 200, `hello on ${n.routerUrl} without the registry`);
      assert.equal(await status(`${n.routerUrl}/echo/z`), 200, `echo on ${n.routerUrl} without the registry`);
    }
  } finally {
    for (const n of nodes) await n?.kill();
    await etcd.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test("serve --role control|router without a shared store is refused, naming --store", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-node-"));
  try {
    const r = await cli(undefined, "serve", "--data-dir", dir, "--role", "router", "--listen", "127.0.0.1:0");
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /--role router.*--store etcd:\/\//, show(r));
    const bad = await cli(undefined, "serve", "--data-dir", dir, "--store", "etcd://h:99999");
    assert.notEqual(bad.code, 0, show(bad));
    assert.match(bad.stderr, /port 99999 is out of range/, show(bad));
    const url = await cli(undefined, "serve", "--data-dir", dir, "--registry", "http://x:1/v2");
    assert.notEqual(url.code, 0, show(url));
    assert.match(url.stderr, /--registry: "http:\/\/x:1\/v2" names the \/v2 API/, show(url));
    const creds = await cli(
      undefined,
      "serve",
      "--data-dir",
      dir,
      "--registry",
      "https://u:p@reg.example.com",
    );
    assert.notEqual(creds.code, 0, show(creds));
    assert.match(creds.stderr, /holds credentials: give them with --registry-username/, show(creds));
    const half = await cli(
      undefined,
      "serve",
      "--data-dir",
      dir,
      "--registry",
      "reg.example.com",
      "--registry-username",
      "u",
    );
    assert.notEqual(half.code, 0, show(half));
    assert.match(half.stderr, /--registry-username u: give the password too/, show(half));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
