import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { sha256Digest } from "../core/index.js";
import { RegistryClient } from "./client.js";
import { buildImage, discardStaged, LARGE_LAYER_MIN_BYTES } from "./image-build.js";
import { StoreLayout } from "./store-layout.js";
import { bigWasm, type RunningRegistry, startRegistry, tinyWasm } from "./test-support.js";

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
  // A bundle that did not come from this process's buildImage (a copy of one): its digests are checked.
  const built = await buildImage({ files: new Map([["/app.wasm", tinyWasm("bad")]]), entry: "/app.wasm" });
  const bundle = { ...built, blobs: new Map(built.blobs) };
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

test("a large layer is written to the staging directory as it is made; pushLocal renames it into place", async () => {
  const module = bigWasm(LARGE_LAYER_MIN_BYTES);
  const stageDir = await reg.store.stagingDir();
  const bundle = await buildImage({ files: new Map([["/big.wasm", module]]), entry: "/big.wasm", stageDir });
  const [[layerDigest, staged]] = [...(bundle.staged ?? [])];
  // Its bytes are in the staged file only; the manifest describes that file.
  assert.equal(bundle.blobs.get(layerDigest)?.byteLength, 0);
  const file = readFileSync(staged);
  assert.ok(file.byteLength > module.byteLength, "a tar, not compressed");
  assert.equal(sha256Digest(file), layerDigest);
  const manifest = JSON.parse(Buffer.from(bundle.manifest).toString("utf8"));
  assert.equal(manifest.layers[0].size, file.byteLength);
  const digest = await reg.store.pushLocal("functions/big", "v1", bundle);
  assert.equal(existsSync(staged), false, "renamed into the store");
  assert.equal(readdirSync(stageDir).length, 0);
  // Any registry client reads it back (gunzip, diff_id and digests checked by the pull).
  const pulled = await new RegistryClient().pull(`${reg.host}/functions/big@${digest}`);
  assert.deepEqual(Buffer.from(pulled.module), Buffer.from(module));
  assert.deepEqual(Buffer.from((await reg.store.loadLocal(digest))?.module ?? []), Buffer.from(module));

  // The same layer again: the store has it, the new staged file is removed; a bundle dropped: its file too.
  const same = await buildImage({ files: new Map([["/big.wasm", module]]), entry: "/big.wasm", stageDir });
  assert.equal(same.staged?.size, 1);
  assert.equal(await reg.store.pushLocal("functions/big", "v2", same), digest);
  const dropped = await buildImage({
    files: new Map([["/other.wasm", module]]),
    entry: "/other.wasm",
    stageDir,
  });
  assert.equal(readdirSync(stageDir).length, 1);
  await discardStaged(dropped);
  assert.equal(readdirSync(stageDir).length, 0);
  // Pushed to another registry (through HTTP), a staged layer is read from its file.
  const elsewhere = await buildImage({
    files: new Map([["/big.wasm", module]]),
    entry: "/big.wasm",
    stageDir,
  });
  const remote = await new RegistryClient().push(`${reg.host}/elsewhere/big:v1`, elsewhere);
  const back = await new RegistryClient().pull(`${reg.host}/elsewhere/big@${remote}`);
  assert.deepEqual(Buffer.from(back.module), Buffer.from(module));
  await discardStaged(elsewhere);
  assert.equal(readdirSync(stageDir).length, 0);
  // A push that fails leaves nothing staged either.
  const bad = await buildImage({ files: new Map([["/big.wasm", module]]), entry: "/big.wasm", stageDir });
  await assert.rejects(reg.store.pushLocal("Not A Repo", "v1", bad), /not a valid name/);
  assert.equal(readdirSync(stageDir).length, 0);
});
