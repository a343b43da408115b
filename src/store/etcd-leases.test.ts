import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EtcdLeadership, EtcdMembership, listNodes } from "./etcd-leases.js";
import { EtcdStore } from "./etcd-store.js";
import { EtcdCluster, etcdMissing } from "./test-support.js";

const missing = etcdMissing();
const TTL_S = 2;

/** A node in a child process: registers, campaigns for "duties", prints "LEADER" when elected; killed -9 by the test. */
function childNode(endpoints: string[], prefix: string, dir: string) {
  const mod = (f: string) => JSON.stringify(new URL(f, import.meta.url).href);
  const script = `
    import { EtcdStore } from ${mod("./etcd-store.js")};
    import { EtcdLeadership, EtcdMembership } from ${mod("./etcd-leases.js")};
    const store = await EtcdStore.open({ endpoints: ${JSON.stringify(endpoints)}, prefix: ${JSON.stringify(prefix)}, dataDir: ${JSON.stringify(dir)} });
    const info = { id: "child", role: "all", routerUrl: "", controlUrl: "", startedAt: "" };
    await new EtcdMembership(store, info, () => {}, ${TTL_S}).start();
    new EtcdLeadership(store, "duties", "child", { start: () => process.stdout.write("LEADER\\n"), stop: () => {} }, { log: () => {}, ttlS: ${TTL_S} }).start();
    setInterval(() => {}, 1000);
  `;
  return spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

test("etcd leases: a node killed -9 leaves the node list and its duties move to another node", {
  skip: missing,
}, async () => {
  const cluster = await EtcdCluster.start();
  const dirs = [mkdtempSync(join(tmpdir(), "wasmlet-lease-")), mkdtempSync(join(tmpdir(), "wasmlet-lease-"))];
  const prefix = "/leases/";
  const child = childNode(cluster.endpoints, prefix, dirs[0]);
  const store = await EtcdStore.open({ endpoints: cluster.endpoints, prefix, dataDir: dirs[1] });
  const events: string[] = [];
  const lead = new EtcdLeadership(
    store,
    "duties",
    "parent",
    { start: () => void events.push("start"), stop: () => void events.push("stop") },
    { log: () => {}, ttlS: TTL_S },
  );
  const me = new EtcdMembership(
    store,
    { id: "parent", role: "all", routerUrl: "", controlUrl: "", startedAt: "" },
    () => {},
    TTL_S,
  );
  try {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
    });
    for (let t = Date.now(); !out.includes("LEADER"); ) {
      assert.ok(Date.now() - t < 10_000, "the child was elected");
      await new Promise((r) => setTimeout(r, 20));
    }
    await me.start();
    lead.start();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lead.leading, false, "one leader at a time: the child holds the duties");
    assert.deepEqual(events, []);
    assert.deepEqual(
      (await listNodes(store)).map((n) => n.id),
      ["child", "parent"],
    );

    const killedAt = Date.now();
    child.kill("SIGKILL");
    while (!lead.leading && Date.now() - killedAt < 15_000) await new Promise((r) => setTimeout(r, 20));
    const movedMs = Date.now() - killedAt;
    assert.equal(lead.leading, true, "the duties moved to the surviving node");
    assert.deepEqual(events, ["start"]);
    assert.ok(movedMs < (TTL_S + 3) * 1000, `moved within the lease TTL and a margin (${movedMs} ms)`);
    while ((await listNodes(store)).length > 1 && Date.now() - killedAt < 15_000)
      await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      (await listNodes(store)).map((n) => n.id),
      ["parent"],
      "the killed node is gone from the list once its lease expired",
    );
    process.stdout.write(`# lease TTL ${TTL_S} s: duties moved ${movedMs} ms after kill -9\n`);
    await lead.close();
    assert.deepEqual(events, ["start", "stop"]);
  } finally {
    child.kill("SIGKILL");
    await lead.close();
    await me.close();
    await store.close();
    await cluster.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
