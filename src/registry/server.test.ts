import assert from "node:assert/strict";
import { readdir, utimes } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { sha256Digest } from "../core/index.js";
import { MEDIA_TYPES } from "./media-types.js";
import { pushBlob, type RunningRegistry, startRegistry } from "./test-support.js";

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry({ maxUploadBytes: 64 * 1024 });
});
after(() => reg.close());

const enc = (s: string) => new TextEncoder().encode(s);
const call = (path: string, init: RequestInit = {}) => fetch(`${reg.url}${path}`, init);
const errCode = async (res: Response) =>
  ((await res.json()) as { errors: { code: string }[] }).errors[0].code;

const putBlob = (repo: string, bytes: Uint8Array<ArrayBuffer>) => pushBlob(reg.url, repo, bytes);

async function putManifest(repo: string, ref: string, m: object, type: string = MEDIA_TYPES.manifest) {
  const body = enc(JSON.stringify(m));
  const res = await call(`/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    body,
    headers: { "content-type": type },
  });
  return { res, digest: sha256Digest(body), body };
}

async function simpleImage(repo: string, tag: string, extra: object = {}) {
  const config = enc("{}");
  const layer = enc(`layer of ${repo}:${tag}`);
  const cd = await putBlob(repo, config);
  const ld = await putBlob(repo, layer);
  return putManifest(repo, tag, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: cd, size: config.length },
    layers: [{ mediaType: MEDIA_TYPES.layerTar, digest: ld, size: layer.length }],
    ...extra,
  });
}

/** Sends a request with the path exactly as given (fetch would normalise `..` away). */
function rawRequest(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const [host, port] = reg.host.split(":");
    const req = request({ host, port: Number(port), method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("GET /v2/ answers 200 with the API version header; other paths are left alone", async () => {
  const res = await call("/v2/");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
  const other = await call("/api/v1/functions");
  assert.equal(other.status, 404);
  assert.equal(await other.text(), "not a registry path");
});

test("blob upload with a wrong digest is refused with DIGEST_INVALID and nothing is stored", async () => {
  const bytes = enc("some content");
  const wrong = sha256Digest("other content");
  const res = await call(`/v2/bad/digest/blobs/uploads/?digest=${wrong}`, { method: "POST", body: bytes });
  assert.equal(res.status, 400);
  assert.equal(await errCode(res), "DIGEST_INVALID");
  for (const d of [wrong, sha256Digest(bytes)]) {
    const head = await call(`/v2/bad/digest/blobs/${d}`, { method: "HEAD" });
    assert.equal(head.status, 404);
  }
  const blobs = await readdir(join(reg.root, "blobs"), { recursive: true }).catch(() => []);
  assert.ok(!blobs.some((f) => String(f).includes(sha256Digest(bytes).slice(7))));
  assert.deepEqual(await readdir(join(reg.root, "uploads")), []);
});

test("manifest referencing a missing blob is refused with MANIFEST_BLOB_UNKNOWN", async () => {
  const missing = sha256Digest("never pushed");
  const config = enc("{}");
  const cd = await putBlob("mbu", config);
  const { res } = await putManifest("mbu", "v1", {
    schemaVersion: 2,
    config: { mediaType: MEDIA_TYPES.config, digest: cd, size: 2 },
    layers: [{ mediaType: MEDIA_TYPES.layerTarGzip, digest: missing, size: 1 }],
  });
  assert.equal(res.status, 400);
  assert.equal(await errCode(res), "MANIFEST_BLOB_UNKNOWN");
  assert.equal((await call("/v2/mbu/manifests/v1")).status, 404);
});

test("invalid repository names are refused with NAME_INVALID", async () => {
  for (const path of ["/v2/../x/manifests/v1", "/v2/UPPER/tags/list", "/v2/a//b/blobs/uploads/"]) {
    const res = await rawRequest(path.endsWith("/") ? "POST" : "GET", path);
    assert.equal(res.status, 400, path);
    assert.equal(JSON.parse(res.body).errors[0].code, "NAME_INVALID", path);
  }
});

test("chunked upload: in-order PATCHes, 416 out of order, status GET, PUT to finish", async () => {
  const data = enc("0123456789abcdefghij");
  const start = await call("/v2/chunky/blobs/uploads/", { method: "POST" });
  assert.equal(start.status, 202);
  let location = start.headers.get("location")!;
  const patch = (from: number, to: number) =>
    call(location, {
      method: "PATCH",
      body: data.slice(from, to + 1),
      headers: { "content-range": `${from}-${to}`, "content-type": "application/octet-stream" },
    });
  const first = await patch(0, 9);
  assert.equal(first.status, 202);
  assert.equal(first.headers.get("range"), "0-9");
  location = first.headers.get("location")!;
  const skipped = await patch(12, 15);
  assert.equal(skipped.status, 416);
  const status = await call(location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get("range"), "0-9");
  assert.equal((await patch(10, 14)).status, 202);
  const digest = sha256Digest(data);
  const put = await call(`${location}?digest=${digest}`, {
    method: "PUT",
    body: data.slice(15),
    headers: { "content-range": "15-19" },
  });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get("docker-content-digest"), digest);
  const got = await call(`/v2/chunky/blobs/${digest}`);
  assert.equal(await got.text(), "0123456789abcdefghij");
  assert.equal((await call(location)).status, 404, "the upload session is gone once committed");
});

test("blob GET honours Range requests", async () => {
  const digest = await putBlob("ranged", enc("hello range world"));
  const cases: [string, number, string, string | null][] = [
    ["bytes=6-10", 206, "range", "bytes 6-10/17"],
    ["bytes=12-", 206, "world", "bytes 12-16/17"],
    ["bytes=-5", 206, "world", "bytes 12-16/17"],
    ["bytes=40-50", 416, "", "bytes */17"],
  ];
  for (const [range, status, body, contentRange] of cases) {
    const res = await call(`/v2/ranged/blobs/${digest}`, { headers: { range } });
    assert.equal(res.status, status, range);
    assert.equal(await res.text(), body, range);
    assert.equal(res.headers.get("content-range"), contentRange, range);
  }
  const head = await call(`/v2/ranged/blobs/${digest}`, { method: "HEAD" });
  assert.equal(head.headers.get("content-length"), "17");
  assert.equal(head.headers.get("docker-content-digest"), digest);
});

test("tags/list paginates with n, last and a Link header; catalog lists repositories", async () => {
  for (const tag of ["c", "a", "d", "b", "e"])
    assert.equal((await simpleImage("paged/repo", tag)).res.status, 201);
  const page1 = await call("/v2/paged/repo/tags/list?n=2");
  assert.deepEqual(await page1.json(), { name: "paged/repo", tags: ["a", "b"] });
  const link = page1.headers.get("link")!;
  assert.match(link, /rel="next"/);
  const next = /<([^>]+)>/.exec(link)![1];
  const page2 = await call(next);
  assert.deepEqual(((await page2.json()) as { tags: string[] }).tags, ["c", "d"]);
  const last = await call("/v2/paged/repo/tags/list?n=2&last=d");
  assert.deepEqual(((await last.json()) as { tags: string[] }).tags, ["e"]);
  assert.equal(last.headers.get("link"), null);
  assert.equal((await call("/v2/no/such/tags/list")).status, 404);

  await simpleImage("paged/repo/nested", "x");
  const cat = (await (await call("/v2/_catalog")).json()) as { repositories: string[] };
  assert.ok(cat.repositories.includes("paged/repo"));
  assert.ok(cat.repositories.includes("paged/repo/nested"));
  const firstPage = await call("/v2/_catalog?n=1");
  assert.equal(((await firstPage.json()) as { repositories: string[] }).repositories.length, 1);
  assert.match(firstPage.headers.get("link") ?? "", /\/v2\/_catalog\?n=1&last=/);
});

test("manifest GET/HEAD by tag and digest, then DELETE removes it and its tags", async () => {
  const { res, digest, body } = await simpleImage("del/me", "v1");
  assert.equal(res.headers.get("docker-content-digest"), digest);
  assert.equal(res.headers.get("location"), `/v2/del/me/manifests/${digest}`);
  for (const ref of ["v1", digest]) {
    const got = await call(`/v2/del/me/manifests/${ref}`);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("content-type"), MEDIA_TYPES.manifest);
    assert.deepEqual(new Uint8Array(await got.arrayBuffer()), body);
  }
  assert.equal((await call(`/v2/del/me/manifests/${digest}`, { method: "DELETE" })).status, 202);
  for (const ref of ["v1", digest]) assert.equal((await call(`/v2/del/me/manifests/${ref}`)).status, 404);
});

test("subjects: OCI-Subject on push and the referrers API with artifactType filter", async () => {
  const { digest: subject } = await simpleImage("refs", "base");
  const empty = enc("{}");
  const ed = await putBlob("refs", empty);
  const sigLayer = await putBlob("refs", enc("signature"));
  const push = (artifactType: string, note: string) =>
    putManifest("refs", sha256Digest(note).slice(7, 20), {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      artifactType,
      config: { mediaType: MEDIA_TYPES.empty, digest: ed, size: 2 },
      layers: [{ mediaType: "application/octet-stream", digest: sigLayer, size: 9 }],
      subject: { mediaType: MEDIA_TYPES.manifest, digest: subject, size: 1 },
      annotations: { note },
    });
  const sig = await push("application/vnd.example.sig", "one");
  assert.equal(sig.res.status, 201);
  assert.equal(sig.res.headers.get("oci-subject"), subject);
  await push("application/vnd.example.sbom", "two");
  const all = (await (await call(`/v2/refs/referrers/${subject}`)).json()) as {
    manifests: { artifactType: string }[];
  };
  assert.deepEqual(all.manifests.map((m) => m.artifactType).sort(), [
    "application/vnd.example.sbom",
    "application/vnd.example.sig",
  ]);
  const filtered = await call(`/v2/refs/referrers/${subject}?artifactType=application/vnd.example.sig`);
  assert.equal(filtered.headers.get("oci-filters-applied"), "artifactType");
  const f = (await filtered.json()) as {
    manifests: { digest: string; annotations: Record<string, string> }[];
  };
  assert.deepEqual(
    f.manifests.map((m) => [m.digest, m.annotations.note]),
    [[sig.digest, "one"]],
  );
});

test("index must reference manifests in the repository", async () => {
  const { digest, body } = await simpleImage("idx", "child");
  const index = (d: string) => ({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [
      {
        mediaType: MEDIA_TYPES.manifest,
        digest: d,
        size: body.length,
        platform: { architecture: "wasm", os: "wasip1" },
      },
    ],
  });
  const bad = await putManifest("idx", "bad", index(sha256Digest("nothing")), MEDIA_TYPES.index);
  assert.equal(bad.res.status, 400);
  assert.equal(await errCode(bad.res), "MANIFEST_BLOB_UNKNOWN");
  const good = await putManifest("idx", "good", index(digest), MEDIA_TYPES.index);
  assert.equal(good.res.status, 201);
  const notJson = await call("/v2/idx/manifests/junk", {
    method: "PUT",
    body: "{",
    headers: { "content-type": MEDIA_TYPES.manifest },
  });
  assert.equal(await errCode(notJson), "MANIFEST_INVALID");
});

test("cross-repository mount, blob delete and the upload size cap", async () => {
  const digest = await putBlob("mount/src", enc("shared layer"));
  assert.equal((await call(`/v2/mount/dst/blobs/${digest}`, { method: "HEAD" })).status, 404);
  const mount = await call(`/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`, { method: "POST" });
  assert.equal(mount.status, 201);
  assert.equal((await call(`/v2/mount/dst/blobs/${digest}`, { method: "HEAD" })).status, 200);
  const unknown = await call(`/v2/mount/dst/blobs/uploads/?mount=${sha256Digest("x")}&from=mount/src`, {
    method: "POST",
  });
  assert.equal(unknown.status, 202, "an unknown blob falls back to a plain upload session");

  assert.equal((await call(`/v2/mount/dst/blobs/${digest}`, { method: "DELETE" })).status, 202);
  assert.equal((await call(`/v2/mount/dst/blobs/${digest}`, { method: "HEAD" })).status, 404);
  assert.equal(
    (await call(`/v2/mount/src/blobs/${digest}`, { method: "HEAD" })).status,
    200,
    "other repos keep it",
  );

  const big = new Uint8Array(64 * 1024 + 1);
  const res = await call(`/v2/big/blobs/uploads/?digest=${sha256Digest(big)}`, { method: "POST", body: big });
  assert.equal(res.status, 413);
});

test("sweepUploads removes stale upload sessions only", async () => {
  const stale = await call("/v2/sweep/blobs/uploads/", { method: "POST" });
  const fresh = await call("/v2/sweep/blobs/uploads/", { method: "POST" });
  const staleId = stale.headers.get("docker-upload-uuid")!;
  const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
  for (const f of ["", "data", "info.json"]) await utimes(join(reg.root, "uploads", staleId, f), old, old);
  assert.equal(await reg.store.sweepUploads(), 1);
  assert.equal((await call(stale.headers.get("location")!)).status, 404);
  assert.equal((await call(fresh.headers.get("location")!)).status, 204);
});
