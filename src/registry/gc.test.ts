import assert from "node:assert/strict";
import { readdir, utimes } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Digest, sha256Digest } from "../core/index.js";
import { RegistryClient } from "./client.js";
import { buildImage, type ImageBundle } from "./image-build.js";
import { MEDIA_TYPES } from "./media-types.js";
import { type RunningRegistry, startRegistry, tinyWasm } from "./test-support.js";

let reg: RunningRegistry;
const client = new RegistryClient();
before(async () => {
  reg = await startRegistry({ gcGraceMs: 60_000 });
});
after(() => reg.close());

const call = (path: string, init: RequestInit = {}) => fetch(`${reg.url}${path}`, init);

/** Makes every file of the registry look two hours old, as if pushed long ago. */
async function ageEverything(): Promise<void> {
  const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else await utimes(p, old, old);
    }
  };
  await walk(reg.root);
}

async function image(tag: string, extraFile = false): Promise<ImageBundle> {
  const files = new Map([["/app.wasm", tinyWasm(tag)]]);
  if (extraFile) files.set("/data/x.txt", new TextEncoder().encode(`data ${tag}`));
  return buildImage({ files, entry: "/app.wasm" });
}

async function blobExists(digest: Digest): Promise<boolean> {
  const hex = digest.slice(7);
  return (
    await readdir(join(reg.root, "blobs", "sha256", hex.slice(0, 2))).catch(() => [] as string[])
  ).includes(hex);
}

async function pushBlobs(repo: string, bundle: ImageBundle): Promise<void> {
  for (const [d, bytes] of bundle.blobs) {
    const res = await call(`/v2/${repo}/blobs/uploads/?digest=${d}`, {
      method: "POST",
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    assert.equal(res.status, 201);
  }
}

function putManifest(repo: string, ref: string, bundle: ImageBundle): Promise<Response> {
  return call(`/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    headers: { "content-type": bundle.mediaType },
    body: bundle.manifest as Uint8Array<ArrayBuffer>,
  });
}

test("gc deletes what nothing references and keeps tagged, linked and rooted images whole", async () => {
  const tagged = await image("tagged", true);
  const untagged = await image("untagged");
  const doomed = await image("doomed", true);
  const rooted = await image("rooted");
  await client.push(`${reg.host}/gc/a:v1`, tagged);
  await client.push(`${reg.host}/gc/b@${untagged.manifestDigest}`, untagged);
  await client.push(`${reg.host}/gc/c:v1`, doomed);
  await client.push(`${reg.host}/gc/d:v1`, rooted);
  // A referrer (signature-like artifact) of the tagged image, itself untagged.
  const sig = new TextEncoder().encode("signature");
  const sigDigest = sha256Digest(sig);
  await call(`/v2/gc/a/blobs/uploads/?digest=${sigDigest}`, { method: "POST", body: sig });
  const empty = new TextEncoder().encode("{}");
  await call(`/v2/gc/a/blobs/uploads/?digest=${sha256Digest(empty)}`, { method: "POST", body: empty });
  const referrer = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    artifactType: "application/vnd.example.sig",
    config: { mediaType: MEDIA_TYPES.empty, digest: sha256Digest(empty), size: 2 },
    layers: [{ mediaType: "application/octet-stream", digest: sigDigest, size: sig.length }],
    subject: { mediaType: MEDIA_TYPES.manifest, digest: tagged.manifestDigest, size: tagged.manifest.length },
  };
  const refBytes = new TextEncoder().encode(JSON.stringify(referrer));
  const refDigest = sha256Digest(refBytes);
  const put = await call(`/v2/gc/a/manifests/${refDigest}`, {
    method: "PUT",
    headers: { "content-type": MEDIA_TYPES.manifest },
    body: refBytes,
  });
  assert.equal(put.status, 201);

  // Delete c's manifest (and so its tag), and d's: d stays alive only through an outside root.
  assert.equal((await call(`/v2/gc/c/manifests/${doomed.manifestDigest}`, { method: "DELETE" })).status, 202);
  assert.equal((await call(`/v2/gc/d/manifests/${rooted.manifestDigest}`, { method: "DELETE" })).status, 202);
  await ageEverything();

  const result = await reg.store.gc({ roots: [rooted.manifestDigest] });
  const doomedDigests = [doomed.manifestDigest, ...doomed.blobs.keys()];
  const doomedBytes = doomed.manifest.length + [...doomed.blobs.values()].reduce((n, b) => n + b.length, 0);
  assert.deepEqual(result, { deletedBlobs: doomedDigests.length, freedBytes: doomedBytes });
  for (const d of doomedDigests) assert.equal(await blobExists(d), false, `${d} should be gone`);
  assert.equal((await call(`/v2/gc/c/blobs/${[...doomed.blobs.keys()][0]}`, { method: "HEAD" })).status, 404);

  const pulled = await client.pull(`${reg.host}/gc/a:v1`);
  assert.equal(new TextDecoder().decode(pulled.files.get("/data/x.txt")), "data tagged");
  await client.pull(`${reg.host}/gc/b@${untagged.manifestDigest}`);
  for (const d of [refDigest, sigDigest, rooted.manifestDigest, ...rooted.blobs.keys()])
    assert.equal(await blobExists(d), true, `${d} should be kept`);
  assert.deepEqual(await reg.store.gc({ roots: [rooted.manifestDigest] }), {
    deletedBlobs: 0,
    freedBytes: 0,
  });
});

test("a push whose blobs are uploaded before a gc pass and its manifest after succeeds and pulls", async () => {
  const bundle = await image("race", true);
  await pushBlobs("race/a", bundle);
  await reg.store.gc();
  for (const d of bundle.blobs.keys()) assert.equal(await blobExists(d), true, "young blobs survive gc");
  const res = await putManifest("race/a", "v1", bundle);
  assert.equal(res.status, 201);
  const pulled = await client.pull(`${reg.host}/race/a:v1`);
  assert.equal(pulled.digest, bundle.manifestDigest);

  // Without the grace period the same blobs are garbage: the test above is not vacuous.
  const other = await image("race-nograce");
  await pushBlobs("race/b", other);
  await reg.store.gc({ graceMs: 0 });
  for (const d of other.blobs.keys()) assert.equal(await blobExists(d), false);
  assert.equal((await putManifest("race/b", "v1", other)).status, 400);
});

test("gc racing manifest PUTs never leaves a manifest pointing at a deleted blob", async () => {
  for (let i = 0; i < 8; i++) {
    const bundle = await image(`concurrent-${i}`);
    const repo = `race/c${i}`;
    await pushBlobs(repo, bundle);
    // grace 0: gc deletes the blobs if it gets the lock first; then the PUT must fail cleanly.
    const [res] = await Promise.all([putManifest(repo, "v1", bundle), reg.store.gc({ graceMs: 0 })]);
    if (res.status === 201) {
      const pulled = await client.pull(`${reg.host}/${repo}:v1`);
      assert.equal(pulled.digest, bundle.manifestDigest);
    } else {
      assert.equal(res.status, 400);
      assert.equal(
        ((await res.json()) as { errors: { code: string }[] }).errors[0].code,
        "MANIFEST_BLOB_UNKNOWN",
      );
    }
  }
});

test("HEAD of an old unreferenced blob renews its grace period (the client will skip uploading it)", async () => {
  const bundle = await image("head-renews");
  await pushBlobs("renew/a", bundle);
  await ageEverything();
  for (const d of bundle.blobs.keys())
    assert.equal((await call(`/v2/renew/a/blobs/${d}`, { method: "HEAD" })).status, 200);
  assert.equal((await reg.store.gc()).deletedBlobs, 0);
  assert.equal((await putManifest("renew/a", "v1", bundle)).status, 201);
});
