import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sha256Digest } from "../core/index.js";
import { MEDIA_TYPES } from "./media-types.js";
import { pushBlob, type RunningRegistry, startRegistry } from "./test-support.js";

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.close());

const enc = (s: string) => new TextEncoder().encode(s);
const call = (path: string, init: RequestInit = {}) => fetch(`${reg.url}${path}`, init);

const putBlob = (repo: string, bytes: Uint8Array<ArrayBuffer>) => pushBlob(reg.url, repo, bytes);

async function putManifest(repo: string, ref: string, m: object, type: string) {
  const body = enc(JSON.stringify(m));
  const res = await call(`/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    body,
    headers: { "content-type": type },
  });
  const text = await res.text();
  return {
    status: res.status,
    error: res.ok
      ? undefined
      : (JSON.parse(text) as { errors: { code: string; message: string }[] }).errors[0],
    digest: sha256Digest(body),
    size: body.length,
  };
}

test("a manifest whose descriptor sizes disagree with the stored content is refused, naming the descriptor", async () => {
  const config = enc("{}");
  const layer = enc("the only layer");
  const cd = await putBlob("sizes", config);
  const ld = await putBlob("sizes", layer);
  const image = (configSize: number, layerSize: number) => ({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: cd, size: configSize },
    layers: [{ mediaType: MEDIA_TYPES.layerTar, digest: ld, size: layerSize }],
  });
  const cases: [string, object, RegExp][] = [
    ["config too small", image(1, layer.length), /^config: size 1 .*2 bytes/],
    ["layer too large", image(config.length, layer.length + 1), /^layers\[0\]: size 15 .*14 bytes/],
    ["negative", image(config.length, -1), /^layers\[0\]: size -1 is not/],
    ["fraction", image(1.5, layer.length), /^config: size 1.5 is not/],
  ];
  for (const [name, manifest, message] of cases) {
    const r = await putManifest("sizes", name.replace(/ /g, "-"), manifest, MEDIA_TYPES.manifest);
    assert.equal(r.status, 400, name);
    assert.equal(r.error?.code, "MANIFEST_INVALID", name);
    assert.match(r.error?.message ?? "", message, name);
    assert.equal((await call(`/v2/sizes/manifests/${r.digest}`, { method: "HEAD" })).status, 404, name);
  }
  const good = await putManifest("sizes", "good", image(config.length, layer.length), MEDIA_TYPES.manifest);
  assert.equal(good.status, 201);

  const index = (size: number) => ({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{ mediaType: MEDIA_TYPES.manifest, digest: good.digest, size }],
  });
  const badIndex = await putManifest("sizes", "bad-index", index(good.size + 3), MEDIA_TYPES.index);
  assert.equal(badIndex.status, 400);
  assert.equal(badIndex.error?.code, "MANIFEST_INVALID");
  assert.match(badIndex.error?.message ?? "", /^manifests\[0\]: size/);
  assert.equal((await putManifest("sizes", "index", index(good.size), MEDIA_TYPES.index)).status, 201);
});
