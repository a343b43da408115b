import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { RegistryClient } from "./client.js";
import { buildImage } from "./image-build.js";
import { StoreLayout } from "./store-layout.js";
import { type RunningRegistry, startRegistry, tinyWasm } from "./test-support.js";

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg?.close());

test("an image stored with pushLocal is served over the distribution API like a pushed one", async () => {
  const module = tinyWasm("local");
  const files = new Map([
    ["/app.wasm", module],
    ["/data/a.txt", Buffer.from("hello")],
  ]);
  const bundle = await buildImage({ files, entry: "/app.wasm" });
  const digest = await reg.store.pushLocal("functions/local", "v1", bundle);
  assert.equal(digest, bundle.manifestDigest);

  const client = new RegistryClient();
  assert.equal(await client.resolve(`${reg.host}/functions/local:v1`), digest);
  const pulled = await client.pull(`${reg.host}/functions/local@${digest}`);
  assert.equal(pulled.entry, "/app.wasm");
  assert.deepEqual(Buffer.from(pulled.files.get("/data/a.txt") ?? []), Buffer.from("hello"));
  const local = await reg.store.loadLocal(digest);
  assert.deepEqual(local?.module, pulled.module);

  // The same content pushed over HTTP to another repository has the same digest: one format, two paths.
  assert.equal(await client.push(`${reg.host}/functions/remote:v1`, bundle), digest);
  if (existsSync("/usr/bin/skopeo")) {
    // Asynchronously: the registry answering skopeo lives in this process.
    const { stdout: out } = await promisify(execFile)(
      "/usr/bin/skopeo",
      ["inspect", "--tls-verify=false", `docker://${reg.host}/functions/local:v1`],
      {
        encoding: "utf8",
      },
    );
    assert.equal(JSON.parse(out).Digest, digest);
  }
});

test("pushLocal refuses content that does not match its digest, and stores no tag", async () => {
  const bundle = await buildImage({ files: new Map([["/app.wasm", tinyWasm("bad")]]), entry: "/app.wasm" });
  const [d] = [...bundle.blobs.keys()];
  bundle.blobs.set(d, Buffer.from("tampered"));
  await assert.rejects(reg.store.pushLocal("functions/bad", "v1", bundle), /does not match its digest/);
  // Checked before any write: neither the manifest nor the untouched blobs (unique to this image: the layer
  // holds this test's module, the config names the layer) were stored, and no write is still under way.
  assert.equal(await reg.store.loadLocal(bundle.manifestDigest), undefined);
  const storage = new StoreLayout(reg.root);
  const untouched = [...bundle.blobs.keys()].filter((b) => b !== d);
  assert.ok(untouched.length > 0);
  await new Promise((r) => setTimeout(r, 50));
  for (const b of [...untouched, bundle.manifestDigest])
    assert.equal(existsSync(storage.blobPath(b)), false, b);
  await assert.rejects(new RegistryClient().resolve(`${reg.host}/functions/bad:v1`), /functions\/bad:v1/);
});
