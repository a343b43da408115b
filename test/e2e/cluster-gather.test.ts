// Invocation records, logs and async invocations stay on the node that served them; the API and the CLI gather them
// over every live node. Three serve processes on 127.0.0.1/2/3 with a token, a real 3-member etcd.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EtcdCluster, etcdMissing } from "../../src/store/test-support.js";
import { cli, example, type Server, show, startRouterNode, startServer, waitFor } from "./harness.js";

const TOKEN = "gather-t0ken";
/**
 * Node 1 listens on 0.0.0.0, as a pod does, at a fixed control port (from the range the etcd tests leave free):
 * it names its images by --public-registry and tells the others where it is with --advertise-address.
 */
const NODE1_CONTROL_PORT = 22991;

test("fn logs and inv through one node gather every node's records, name their nodes, and name a node that is gone", {
  skip: etcdMissing(),
  timeout: 90_000,
}, async () => {
  const t0 = Date.now();
  const etcd = await EtcdCluster.start();
  const root = mkdtempSync(join(tmpdir(), "wasmlet-gather-"));
  const dirs = [1, 2, 3].map((i) => join(root, `node${i}`));
  const tokenFile = join(root, "token");
  writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  const nodes: Server[] = [];
  const common = [
    "--store",
    `etcd://${etcd.endpoints.map((e) => new URL(e).host).join(",")}`,
    "--token-file",
    tokenFile,
  ];
  const at = (i: number) => ["--listen", `127.0.0.${i}:0`, "--control", `127.0.0.${i}:0`];
  const as = (n: Server, ...args: string[]) => cli(n, "--token", TOKEN, ...args);
  try {
    // Node 1 runs everything and holds the images; node 2 too (it pulls node 1's images with the token); node 3 is
    // a router only.
    const published = `127.0.0.1:${NODE1_CONTROL_PORT}`;
    nodes.push(
      await startServer(dirs[0], [
        ...common,
        "--listen",
        "0.0.0.0:0",
        "--control",
        `0.0.0.0:${NODE1_CONTROL_PORT}`,
        "--public-registry",
        published,
        "--advertise-address",
        "127.0.0.1",
      ]),
    );
    const registryAuth = join(root, "registry-auth.json");
    writeFileSync(registryAuth, JSON.stringify({ [published]: { token: TOKEN } }));
    nodes.push(await startServer(dirs[1], [...common, ...at(2), "--registry-auth", registryAuth]));
    // A router node pulls with the token from the registry --registry names (node 1's).
    const registry = published;
    nodes.push(await startRouterNode(dirs[2], [...common, ...at(3), "--registry", registry]));
    const [n1, n2, n3] = nodes;
    const ids = new Map<string, string>();
    const listed = (await (
      await fetch(`${n1.controlUrl}/api/v1/nodes`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as { items: { id: string; routerUrl: string }[] };
    for (const n of listed.items) ids.set(new URL(n.routerUrl).hostname, n.id);
    assert.equal(ids.size, 3, JSON.stringify(listed));
    const [id1, id2, id3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map((h) => ids.get(h) ?? "");

    for (const args of [
      ["fn", "create", "--name", "hello", "--code", example("hello/hello.wasm"), "--arg", "3"],
      ["route", "create", "--name", "hello", "--function", "hello", "--prefix", "/hello"],
      [
        "route",
        "create",
        "--name",
        "later",
        "--function",
        "hello",
        "--prefix",
        "/later",
        "--method",
        "POST",
        "--async",
      ],
    ]) {
      const r = await as(n1, ...args);
      assert.equal(r.code, 0, show(r));
    }
    const ok = async (url: string, init?: RequestInit) =>
      waitFor(
        async () => {
          const r = await fetch(url, init).catch(() => undefined);
          const text = await r?.text();
          return r && (r.status === 200 || r.status === 202) ? text : undefined;
        },
        { ms: 10_000, intervalMs: 50, what: () => `${url} never answered` },
      );
    // The image is named by node 1's public address, not the 0.0.0.0 it listens on: the others pull from it.
    const fn = await fetch(`${n1.controlUrl}/api/v1/functions/hello`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = (await fn.json()) as { versions?: { image: string }[] };
    const image = body.versions?.at(-1)?.image ?? JSON.stringify(body);
    assert.ok(image.startsWith(`${published}/functions/hello`), image);
    for (const n of [n1, n2, n3]) await ok(`${n.routerUrl}/hello`);
    await ok(`${n2.routerUrl}/hello`);
    const accepted = JSON.parse(await ok(`${n3.routerUrl}/later`, { method: "POST", body: "x" })) as {
      id: string;
    };

    // Every node's invocations, each line naming its node, through node 1's control port.
    const logs = await waitFor(
      async () => {
        const r = await as(n1, "fn", "logs", "--name", "hello", "--limit", "50");
        assert.equal(r.code, 0, show(r));
        return [id1, id2, id3].every((id) => r.stdout.includes(id)) ? r : undefined;
      },
      { ms: 10_000, intervalMs: 200, what: () => "node 1 never showed the logs of nodes 1, 2 and 3" },
    );
    assert.equal(logs.stderr, "", "every node answered: no warning");
    const lines = logs.stdout.trim().split("\n");
    assert.ok(lines.filter((l) => l.includes(id2)).length >= 2, logs.stdout);
    assert.ok(
      lines.some((l) => l.includes(id3)),
      logs.stdout,
    );
    const times = lines.map((l) => l.split("  ")[0]);
    assert.deepEqual(times, [...times].sort(), "merged oldest first");

    // The invocation node 3 accepted is found through node 1 (and runs on node 3).
    const got = await waitFor(
      async () => {
        const r = await as(n1, "inv", "get", "--id", accepted.id, "-o", "json");
        assert.equal(r.code, 0, show(r));
        const inv = JSON.parse(r.stdout) as { status: string; node: string };
        return inv.status === "succeeded" ? inv : undefined;
      },
      { ms: 10_000, intervalMs: 200, what: () => `invocation ${accepted.id} never succeeded` },
    );
    assert.equal(got.node, id3);
    const invs = await as(n1, "inv", "list");
    assert.equal(invs.code, 0, show(invs));
    assert.match(invs.stdout, /NODE/);
    assert.ok(
      invs.stdout.split("\n").some((l) => l.includes(accepted.id) && l.includes(id3)),
      invs.stdout,
    );
    // A router node's control port answers the same, gathered (its own API is the records only).
    const viaRouter = await as(n3, "inv", "get", "--id", accepted.id, "-o", "json");
    assert.equal(viaRouter.code, 0, show(viaRouter));
    const notThere = await as(n1, "inv", "get", "--id", "no-such-id");
    assert.notEqual(notThere.code, 0);
    assert.match(notThere.stderr, /not found on any node/, show(notThere));

    // What gathering costs: the same list through node 1, gathered from 3 nodes vs node 1's own (same run).
    const median = async (headers: Record<string, string>) => {
      const ms: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t = performance.now();
        const r = await fetch(`${n1.controlUrl}/api/v1/invocations?limit=100`, {
          headers: { authorization: `Bearer ${TOKEN}`, ...headers },
        });
        await r.arrayBuffer();
        ms.push(performance.now() - t);
      }
      return ms.sort((a, b) => a - b)[15];
    };
    const own = await median({ "x-wasmlet-scope": "local" });
    const all = await median({});
    process.stdout.write(
      `# GET /api/v1/invocations median over 30: node 1 alone ${own.toFixed(2)} ms, gathered from 3 nodes ${all.toFixed(2)} ms (${(all / own).toFixed(1)}x)\n`,
    );

    // Node 2 dies; until its lease expires it is still listed: the gathered answers are partial and name it.
    await n2.kill();
    const partial = await as(n1, "fn", "logs", "--name", "hello", "--limit", "50");
    assert.equal(partial.code, 0, show(partial));
    assert.match(partial.stderr, new RegExp(`warning: 1 node did not answer.*${id2}`), show(partial));
    assert.ok(partial.stdout.includes(id1) && partial.stdout.includes(id3), partial.stdout);
    assert.ok(!partial.stdout.includes(id2), partial.stdout);
    const raw = (await (
      await fetch(`${n1.controlUrl}/api/v1/invocations`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as { partial: boolean; unreachable: { node: string }[] };
    assert.equal(raw.partial, true);
    assert.deepEqual(
      raw.unreachable.map((u) => u.node),
      [id2],
    );
    const invPartial = await as(n1, "inv", "list");
    assert.equal(invPartial.code, 0, show(invPartial));
    assert.match(invPartial.stderr, new RegExp(id2), show(invPartial));
    process.stdout.write(
      `# fn logs through node 1, node 2 killed:\n${partial.stdout
        .trim()
        .split("\n")
        .map((l) => `#   ${l}`)
        .join("\n")}\n#   stderr: ${partial.stderr.trim()}\n# gathering test: ${Date.now() - t0} ms\n`,
    );
  } finally {
    for (const n of nodes) await n.kill().catch(() => {});
    await etcd.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
