import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sha256Digest } from "../core/index.js";
import { MEDIA_TYPES } from "./media-types.js";
import { pushBlob, type RunningRegistry, startRegistry } from "./test-support.js";

// A referrers answer over 800 bytes goes on in a next page: a handful of referrers make several pages.
const PAGE_BYTES = 800;
let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry({ referrersPageBytes: PAGE_BYTES });
});
after(() => reg.close());

const enc = (s: string) => new TextEncoder().encode(s);
const call = (path: string, init: RequestInit = {}) => fetch(`${reg.url}${path}`, init);
const nextLink = (res: Response) => /^<([^>]+)>; rel="next"$/.exec(res.headers.get("link") ?? "")?.[1];

const putBlob = (repo: string, bytes: Uint8Array<ArrayBuffer>) => pushBlob(reg.url, repo, bytes);

async function putManifest(repo: string, ref: string, m: object, type: string = MEDIA_TYPES.manifest) {
  const body = enc(JSON.stringify(m));
  const res = await call(`/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    body,
    headers: { "content-type": type },
  });
  assert.equal(res.status, 201, await res.clone().text());
  return { digest: sha256Digest(body), size: body.length };
}

/** A tiny image manifest: config `{}` of `configType`, one layer; extra fields merged in. */
async function image(repo: string, ref: string, extra: object = {}, configType: string = MEDIA_TYPES.empty) {
  const cd = await putBlob(repo, enc("{}"));
  return putManifest(repo, ref, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: configType, digest: cd, size: 2 },
    layers: [{ mediaType: MEDIA_TYPES.empty, digest: cd, size: 2 }],
    ...extra,
  });
}

/** Follows Link headers from `path`; returns each page's body and headers. */
async function walk<T>(path: string): Promise<{ body: T; res: Response }[]> {
  const pages: { body: T; res: Response }[] = [];
  for (let next: string | undefined = path; next; ) {
    const res = await call(next);
    assert.equal(res.status, 200, next);
    pages.push({ body: (await res.json()) as T, res });
    next = nextLink(res);
    assert.ok(pages.length < 50, "the Link chain ends");
  }
  return pages;
}

test("tags/list: ASCII order, n=0 is empty without a Link, last alone, a Link chain through every tag, bad n", async () => {
  const tags = ["b", "B", "a-1", "a", "Z9", "c_", "a.0"];
  for (const t of tags) await image("tags/repo", t);
  const all = [...tags].sort(); // Go's sort.Strings: uppercase before lowercase
  assert.deepEqual(all, ["B", "Z9", "a", "a-1", "a.0", "b", "c_"]);
  assert.deepEqual(((await (await call("/v2/tags/repo/tags/list")).json()) as { tags: string[] }).tags, all);

  const zero = await call("/v2/tags/repo/tags/list?n=0");
  assert.deepEqual(await zero.json(), { name: "tags/repo", tags: [] });
  assert.equal(zero.headers.get("link"), null);

  const afterA = await call("/v2/tags/repo/tags/list?last=a");
  assert.deepEqual(((await afterA.json()) as { tags: string[] }).tags, ["a-1", "a.0", "b", "c_"]);

  for (const n of [1, 2, 3, 7, 8]) {
    const pages = await walk<{ tags: string[] }>(`/v2/tags/repo/tags/list?n=${n}`);
    assert.deepEqual(
      pages.flatMap((p) => p.body.tags),
      all,
      `n=${n}`,
    );
    for (const p of pages.slice(0, -1))
      assert.equal(p.body.tags.length, n, `n=${n}: full pages before the last`);
  }
  for (const bad of ["-1", "x", "1.5"])
    assert.equal((await call(`/v2/tags/repo/tags/list?n=${bad}`)).status, 400);
});

test("referrers: an image index; artifactType from the manifest, else its config's; none for an index", async () => {
  const subject = await image("refs/kinds", "base");
  const s = { mediaType: MEDIA_TYPES.manifest, digest: subject.digest, size: subject.size };
  const typed = await image("refs/kinds", "typed", { artifactType: "application/x.sig", subject: s });
  const untyped = await image(
    "refs/kinds",
    "untyped",
    { artifactType: "", subject: s },
    "application/x.sbom",
  );
  const index = await putManifest(
    "refs/kinds",
    "idx",
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: [{ mediaType: MEDIA_TYPES.manifest, digest: subject.digest, size: subject.size }],
      subject: s,
      annotations: { "org.example": "yes" },
    },
    MEDIA_TYPES.index,
  );
  const res = await call(`/v2/refs/kinds/referrers/${subject.digest}`);
  assert.equal(res.headers.get("content-type"), MEDIA_TYPES.index);
  assert.equal(res.headers.get("oci-filters-applied"), null);
  const got = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: object[] };
  assert.equal(got.schemaVersion, 2);
  assert.equal(got.mediaType, MEDIA_TYPES.index);
  const byDigest = new Map(got.manifests.map((m) => [(m as { digest: string }).digest, m]));
  assert.deepEqual(byDigest.get(typed.digest), {
    mediaType: MEDIA_TYPES.manifest,
    digest: typed.digest,
    size: typed.size,
    artifactType: "application/x.sig",
  });
  assert.equal(
    (byDigest.get(untyped.digest) as { artifactType?: string }).artifactType,
    "application/x.sbom",
  );
  assert.deepEqual(byDigest.get(index.digest), {
    mediaType: MEDIA_TYPES.index,
    digest: index.digest,
    size: index.size,
    annotations: { "org.example": "yes" },
  });
  assert.equal(byDigest.size, 3);

  // Nothing refers to it, or the repository does not exist: 200 and an empty index, never 404.
  for (const path of [
    `/v2/refs/kinds/referrers/${typed.digest}`,
    `/v2/no/such/repo/referrers/${subject.digest}`,
  ]) {
    const empty = await call(path);
    assert.equal(empty.status, 200, path);
    assert.deepEqual(((await empty.json()) as { manifests: unknown[] }).manifests, [], path);
  }
  assert.equal((await call("/v2/refs/kinds/referrers/sha256:nothex")).status, 400);
});

test("referrers too many for one answer are paged with Link, each page an index, the filter kept on every page", async () => {
  const subject = await image("refs/paged", "base");
  const s = { mediaType: MEDIA_TYPES.manifest, digest: subject.digest, size: subject.size };
  const want: Record<string, string[]> = { "application/x.a": [], "application/x.b": [] };
  for (let i = 0; i < 12; i++) {
    const type = i % 3 === 0 ? "application/x.b" : "application/x.a";
    const r = await image("refs/paged", `r${i}`, {
      artifactType: type,
      subject: s,
      annotations: { i: String(i) },
    });
    want[type].push(r.digest);
  }
  const every = [...want["application/x.a"], ...want["application/x.b"]].sort();

  const pages = await walk<{ mediaType: string; manifests: { digest: string }[] }>(
    `/v2/refs/paged/referrers/${subject.digest}`,
  );
  assert.ok(pages.length >= 3, `12 referrers over ${PAGE_BYTES}-byte pages: ${pages.length} pages`);
  for (const p of pages) {
    assert.equal(p.body.mediaType, MEDIA_TYPES.index);
    assert.ok(JSON.stringify(p.body).length <= PAGE_BYTES);
  }
  assert.deepEqual(
    pages.flatMap((p) => p.body.manifests.map((m) => m.digest)),
    every,
    "every referrer once, in digest order",
  );

  const filtered = await walk<{ manifests: { digest: string; artifactType: string }[] }>(
    `/v2/refs/paged/referrers/${subject.digest}?artifactType=application/x.a`,
  );
  assert.ok(filtered.length >= 2);
  for (const p of filtered) assert.equal(p.res.headers.get("oci-filters-applied"), "artifactType");
  const seen = filtered.flatMap((p) => p.body.manifests);
  assert.ok(seen.every((m) => m.artifactType === "application/x.a"));
  assert.deepEqual(
    seen.map((m) => m.digest),
    [...want["application/x.a"]].sort(),
  );
});
