import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { sha256Digest } from "../core/index.js";
import { type RunningRegistry, startRegistry } from "./test-support.js";

// Blobs of several MiB: uploads are written and blobs read in 1 MiB batches, so these cross every boundary.
const MIB = 1024 * 1024;

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.close());

const call = (path: string, init: RequestInit = {}) => fetch(`${reg.url}${path}`, init);
const bytesOf = async (res: Response) => Buffer.from(await res.arrayBuffer());

test("a 7.5 MiB blob pushed in one PUT reads back byte for byte, whole and by ranges across read boundaries", async () => {
  const blob = randomBytes(7.5 * MIB + 3);
  const digest = sha256Digest(blob);
  const post = await call("/v2/big/one/blobs/uploads/", { method: "POST" });
  assert.equal(post.status, 202);
  const put = await call(`${post.headers.get("location")}?digest=${digest}`, { method: "PUT", body: blob });
  assert.equal(put.status, 201);

  const whole = await call(`/v2/big/one/blobs/${digest}`);
  assert.equal(whole.headers.get("content-length"), String(blob.length));
  assert.ok((await bytesOf(whole)).equals(blob));
  for (const [start, end] of [
    [MIB - 5, MIB + 5],
    [3 * MIB - 1, 6 * MIB],
    [blob.length - 10, blob.length - 1],
  ]) {
    const part = await call(`/v2/big/one/blobs/${digest}`, { headers: { range: `bytes=${start}-${end}` } });
    assert.equal(part.status, 206);
    assert.ok((await bytesOf(part)).equals(blob.subarray(start, end + 1)), `bytes ${start}-${end}`);
  }
});

test("a blob pushed in uneven chunked PATCHes of up to 2.5 MiB is stored whole, its digest checked", async () => {
  const blob = randomBytes(6 * MIB + 12345);
  const digest = sha256Digest(blob);
  let location = (await call("/v2/big/chunks/blobs/uploads/", { method: "POST" })).headers.get("location")!;
  const sizes = [1, MIB - 1, 2.5 * MIB, 700_000, MIB + 1];
  let at = 0;
  for (const size of sizes) {
    const res = await call(location, {
      method: "PATCH",
      body: blob.subarray(at, at + size),
      headers: { "content-range": `${at}-${at + size - 1}` },
    });
    assert.equal(res.status, 202);
    at += size;
    assert.equal(res.headers.get("range"), `0-${at - 1}`);
    location = res.headers.get("location")!;
  }
  const wrong = await call(`${location}?digest=${sha256Digest(blob.subarray(1))}`, {
    method: "PUT",
    body: blob.subarray(at),
    headers: { "content-range": `${at}-${blob.length - 1}` },
  });
  assert.equal(wrong.status, 400, "a digest the bytes do not have is refused");

  location = (await call("/v2/big/chunks/blobs/uploads/", { method: "POST" })).headers.get("location")!;
  for (const [from, to] of [
    [0, 3 * MIB],
    [3 * MIB, blob.length],
  ]) {
    const res = await call(location, {
      method: "PATCH",
      body: blob.subarray(from, to),
      headers: { "content-range": `${from}-${to - 1}` },
    });
    assert.equal(res.status, 202);
    location = res.headers.get("location")!;
  }
  const done = await call(`${location}?digest=${digest}`, { method: "PUT" });
  assert.equal(done.status, 201);
  assert.ok((await bytesOf(await call(`/v2/big/chunks/blobs/${digest}`))).equals(blob));
});

test("an empty blob answers 200 with no body; a range of it is unsatisfiable", async () => {
  const digest = sha256Digest(new Uint8Array());
  const put = await call(`/v2/big/empty/blobs/uploads/?digest=${digest}`, { method: "POST", body: "" });
  assert.equal(put.status, 201);
  const got = await call(`/v2/big/empty/blobs/${digest}`);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("content-length"), "0");
  assert.equal((await bytesOf(got)).length, 0);
  const ranged = await call(`/v2/big/empty/blobs/${digest}`, { headers: { range: "bytes=0-0" } });
  assert.equal(ranged.status, 416);
});
