import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Digest, digestOf } from "../core/index.js";
import { RegistryClient } from "./client.js";
import { buildImage, type ImageBundle } from "./image-build.js";
import { MEDIA_TYPES } from "./media-types.js";
import { type RunningRegistry, startRegistry, tinyWasm } from "./test-support.js";

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry({ gcGraceMs: 0 });
});
after(() => reg.close());

const enc = (s: string) => new TextEncoder().encode(s);
/** A copy fetch takes as a body (TS types a Uint8Array over any ArrayBufferLike as not one). */
const body = (b: Uint8Array) => new Uint8Array(b);
const call = (path: string, init: RequestInit = {}) => fetch(`${reg.url}${path}`, init);
const errCode = async (res: Response) =>
  ((await res.json()) as { errors: { code: string }[] }).errors[0].code;
const sha512 = (b: Uint8Array | string) => digestOf(b, "sha512");
const onDisk = (d: Digest) => {
  const [alg, hex] = d.split(":");
  return existsSync(join(reg.root, "blobs", alg, hex.slice(0, 2), hex));
};

/** The wasm-artifact image of `tag`, every digest (blobs and manifest) rewritten as sha512. */
async function sha512Image(tag: string): Promise<ImageBundle> {
  const b = await buildImage({
    files: new Map([["/m.wasm", tinyWasm(tag)]]),
    entry: "/m.wasm",
    format: "wasm-artifact",
  });
  const m = JSON.parse(Buffer.from(b.manifest).toString("utf8")) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  const blobs = new Map<Digest, Uint8Array>();
  for (const d of [m.config, ...m.layers]) {
    const bytes = b.blobs.get(d.digest as Digest)!;
    d.digest = sha512(bytes);
    blobs.set(d.digest as Digest, bytes);
  }
  const manifest = enc(JSON.stringify(m));
  return { manifest, manifestDigest: sha512(manifest), mediaType: b.mediaType, blobs };
}

/** Pushes the bundle over HTTP: blobs monolithically, the manifest by its digest with `?tag=`. */
async function pushOverHttp(repo: string, tag: string, b: ImageBundle): Promise<Response> {
  for (const [d, bytes] of b.blobs) {
    const res = await call(`/v2/${repo}/blobs/uploads/?digest=${d}`, { method: "POST", body: body(bytes) });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("docker-content-digest"), d);
  }
  return call(`/v2/${repo}/manifests/${b.manifestDigest}?tag=${tag}`, {
    method: "PUT",
    body: body(b.manifest),
    headers: { "content-type": b.mediaType },
  });
}

test("sha512 blobs: monolithic, POST then PUT, chunked with digest-algorithm, or a sha256 session; the digest is echoed", async () => {
  const cases: [string, (repo: string, bytes: Uint8Array, d: Digest) => Promise<Response>][] = [
    [
      "monolithic",
      (repo, bytes, d) =>
        call(`/v2/${repo}/blobs/uploads/?digest=${d}`, { method: "POST", body: body(bytes) }),
    ],
    [
      "chunked, digest-algorithm=sha512",
      async (repo, bytes, d) => {
        const start = await call(`/v2/${repo}/blobs/uploads/?digest-algorithm=sha512`, { method: "POST" });
        assert.equal(start.status, 202);
        const loc = start.headers.get("location")!;
        const half = bytes.length >> 1;
        const p1 = await call(loc, {
          method: "PATCH",
          body: body(bytes.slice(0, half)),
          headers: { "content-range": `0-${half - 1}` },
        });
        assert.equal(p1.status, 202);
        const p2 = await call(p1.headers.get("location")!, {
          method: "PATCH",
          body: body(bytes.slice(half)),
        });
        assert.equal(p2.status, 202);
        return call(`${p2.headers.get("location")}?digest=${d}`, { method: "PUT" });
      },
    ],
    [
      "POST then PUT, session hashed as sha256",
      async (repo, bytes, d) => {
        const start = await call(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
        return call(`${start.headers.get("location")}?digest=${d}`, { method: "PUT", body: body(bytes) });
      },
    ],
  ];
  for (const [name, push] of cases) {
    const bytes = enc(`sha512 blob pushed ${name}`);
    const d = sha512(bytes);
    const res = await push("s512/blobs", bytes, d);
    assert.equal(res.status, 201, name);
    assert.equal(res.headers.get("docker-content-digest"), d, name);
    assert.ok(onDisk(d), `${name}: stored under blobs/sha512`);
    const head = await call(`/v2/s512/blobs/blobs/${d}`, { method: "HEAD" });
    assert.equal(head.status, 200, name);
    assert.equal(head.headers.get("docker-content-digest"), d, name);
    assert.equal(head.headers.get("content-length"), String(bytes.length), name);
    const get = await call(`/v2/s512/blobs/blobs/${d}`);
    assert.deepEqual(new Uint8Array(await get.arrayBuffer()), bytes, name);
  }
  // The same bytes named by the wrong sha512 digest are refused, and nothing is stored under it.
  const wrong = sha512("other bytes");
  const bad = await call(`/v2/s512/blobs/blobs/uploads/?digest=${wrong}`, {
    method: "POST",
    body: enc("bytes"),
  });
  assert.equal(bad.status, 400);
  assert.equal(await errCode(bad), "DIGEST_INVALID");
  assert.equal(onDisk(wrong), false);
});

test("digests of an unsupported algorithm or shape are refused with 400 DIGEST_INVALID", async () => {
  const sha384 = `sha384:${"a".repeat(96)}`;
  const refused: [string, RequestInit][] = [
    [`/v2/bad/alg/blobs/uploads/?digest=${sha384}`, { method: "POST", body: enc("x") }],
    ["/v2/bad/alg/blobs/uploads/?digest-algorithm=md5", { method: "POST" }],
    [`/v2/bad/alg/blobs/${sha384}`, {}],
    [`/v2/bad/alg/blobs/sha512:${"a".repeat(64)}`, {}],
    [`/v2/bad/alg/manifests/${sha384}`, { method: "PUT", body: enc("{}") }],
    [`/v2/bad/alg/referrers/${sha384}`, {}],
  ];
  for (const [path, init] of refused) {
    const res = await call(path, init);
    assert.equal(res.status, 400, path);
    assert.equal(await errCode(res), "DIGEST_INVALID", path);
  }
});

test("a sha512 image: pushed by digest with a tag, pulled by tag and digest, mounted, loaded locally", async () => {
  const b = await sha512Image("pull");
  const put = await pushOverHttp("s512/img", "v1", b);
  assert.equal(put.status, 201);
  assert.equal(put.headers.get("docker-content-digest"), b.manifestDigest);
  for (const ref of ["v1", b.manifestDigest]) {
    const head = await call(`/v2/s512/img/manifests/${ref}`, { method: "HEAD" });
    assert.equal(head.status, 200, ref);
    assert.equal(head.headers.get("docker-content-digest"), b.manifestDigest, ref);
  }
  const client = new RegistryClient();
  assert.equal(await client.resolve(`${reg.host}/s512/img:v1`), b.manifestDigest);
  for (const ref of [`${reg.host}/s512/img:v1`, `${reg.host}/s512/img@${b.manifestDigest}`]) {
    const img = await client.pull(ref);
    assert.equal(img.digest, b.manifestDigest, ref);
    assert.deepEqual(Buffer.from(img.module), Buffer.from(tinyWasm("pull")), ref);
  }
  assert.deepEqual(
    Buffer.from((await reg.store.loadLocal(b.manifestDigest))?.module ?? []),
    Buffer.from(tinyWasm("pull")),
  );

  // Mount every blob into another repository, then the manifest goes in without an upload.
  for (const d of b.blobs.keys()) {
    const mount = await call(`/v2/s512/copy/blobs/uploads/?mount=${d}&from=s512/img`, { method: "POST" });
    assert.equal(mount.status, 201);
    assert.equal(mount.headers.get("docker-content-digest"), d);
  }
  const copy = await call(`/v2/s512/copy/manifests/${b.manifestDigest}`, {
    method: "PUT",
    body: body(b.manifest),
    headers: { "content-type": b.mediaType },
  });
  assert.equal(copy.status, 201);
});

test("pushLocal stores a sha512 bundle; gc keeps it while tagged and frees its sha512 blobs after", async () => {
  const b = await sha512Image("gc");
  assert.equal(await reg.store.pushLocal("s512/gc", "v1", b), b.manifestDigest);
  const stored = [b.manifestDigest, ...b.blobs.keys()];
  await reg.store.gc();
  for (const d of stored) assert.ok(onDisk(d), `${d} kept while tagged`);
  assert.equal((await call(`/v2/s512/gc/manifests/${b.manifestDigest}`, { method: "DELETE" })).status, 202);
  const r = await reg.store.gc();
  // The config ({} as wasm config) is shared with the other tests' images; the manifest and module are not.
  const layer = JSON.parse(Buffer.from(b.manifest).toString("utf8")).layers[0].digest as Digest;
  assert.ok(r.deletedBlobs >= 2);
  for (const d of [b.manifestDigest, layer]) assert.equal(onDisk(d), false, `${d} freed`);
  // Also gone from the repository: a pull of the blob is a 404, not a missing file.
  assert.equal((await call(`/v2/s512/gc/blobs/${layer}`)).status, 404);
});

test("referrers of a sha512 subject list a sha512 referrer", async () => {
  const subject = await sha512Image("subject");
  assert.equal((await pushOverHttp("s512/refs", "base", subject)).status, 201);
  const empty = enc("{}");
  const ed = sha512(empty);
  await call(`/v2/s512/refs/blobs/uploads/?digest=${ed}`, { method: "POST", body: empty });
  const sig = enc(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      artifactType: "application/vnd.example.sig",
      config: { mediaType: MEDIA_TYPES.empty, digest: ed, size: 2 },
      layers: [{ mediaType: MEDIA_TYPES.empty, digest: ed, size: 2 }],
      subject: {
        mediaType: MEDIA_TYPES.manifest,
        digest: subject.manifestDigest,
        size: subject.manifest.length,
      },
    }),
  );
  const put = await call(`/v2/s512/refs/manifests/${sha512(sig)}`, {
    method: "PUT",
    body: sig,
    headers: { "content-type": MEDIA_TYPES.manifest },
  });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get("oci-subject"), subject.manifestDigest);
  const list = (await (await call(`/v2/s512/refs/referrers/${subject.manifestDigest}`)).json()) as {
    manifests: { digest: string; artifactType: string; size: number }[];
  };
  assert.deepEqual(list.manifests, [
    {
      mediaType: MEDIA_TYPES.manifest,
      digest: sha512(sig),
      size: sig.length,
      artifactType: "application/vnd.example.sig",
    },
  ]);
});

test("GET and HEAD of a malformed manifest reference answer 404 MANIFEST_UNKNOWN; PUT still refuses it", async () => {
  const b = await sha512Image("known");
  assert.equal((await pushOverHttp("known/repo", "v1", b)).status, 201);
  for (const repo of ["known/repo", "never/pushed"])
    for (const ref of [".INVALID_MANIFEST_NAME", "sha256:abc", "-leading-dash", "x".repeat(129)]) {
      const get = await call(`/v2/${repo}/manifests/${ref}`);
      assert.equal(get.status, 404, `GET ${repo} ${ref}`);
      assert.equal(await errCode(get), "MANIFEST_UNKNOWN", `GET ${repo} ${ref}`);
      const head = await call(`/v2/${repo}/manifests/${ref}`, { method: "HEAD" });
      assert.equal(head.status, 404, `HEAD ${repo} ${ref}`);
    }
  const put = await call("/v2/known/repo/manifests/.INVALID_MANIFEST_NAME", {
    method: "PUT",
    body: body(b.manifest),
    headers: { "content-type": b.mediaType },
  });
  assert.equal(put.status, 400);
});
