import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { EtcdStore } from "./etcd-store.js";
import { runStoreContract } from "./store.contract.js";
import { EtcdCluster, etcdMissing } from "./test-support.js";

const missing = etcdMissing();
let cluster: EtcdCluster | undefined;
const dirs: string[] = [];
let n = 0;

before(async () => {
  if (!missing) cluster = await EtcdCluster.start();
});
after(async () => {
  await cluster?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh store: its own key prefix on the shared cluster and its own node directory. */
async function fresh(): Promise<EtcdStore> {
  if (!cluster) throw new Error("no etcd cluster");
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-etcd-node-"));
  dirs.push(dir);
  return EtcdStore.open({ endpoints: cluster.endpoints, prefix: `/t${process.pid}-${n++}/`, dataDir: dir });
}

if (missing) process.emitWarning(`etcd store tests skipped: ${missing}`);
else runStoreContract("etcd (3 members)", fresh);
