import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { storedGzipSize, writeStoredGzip } from "./stored-gzip.js";

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** `data` cut into pieces of the given sizes (the rest as one last piece). */
function cut(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) {
    pieces.push(data.subarray(at, at + n));
    at += n;
  }
  pieces.push(data.subarray(at));
  return pieces;
}

test("a stored gzip member gunzips to its data, whatever the pieces and block boundaries, and its digest is its sha256", () => {
  const cases: [number, number[]][] = [
    [0, []],
    [1, []],
    [65535, []],
    [65536, [1]],
    [65535 * 2 + 7, [70000, 3, 65532]],
    [300_000, [0, 512, 65535, 1, 100_000]],
    [9 * 1024 * 1024 + 3, [512, 5 * 1024 * 1024]],
  ];
  for (const [size, sizes] of cases) {
    const data = randomBytes(size);
    const out = new Uint8Array(new SharedArrayBuffer(storedGzipSize(size)));
    const regions: [number, number][] = [];
    const digest = writeStoredGzip(cut(data, sizes), out, (from, to) => regions.push([from, to]));
    assert.equal(digest, sha(out), `${size} bytes`);
    assert.deepEqual(gunzipSync(out), data, `${size} bytes`);
    // The regions told cover the member once, in order.
    assert.equal(regions[0][0], 0);
    for (let i = 1; i < regions.length; i++) assert.equal(regions[i][0], regions[i - 1][1]);
    assert.equal(regions.at(-1)?.[1], out.byteLength);
    // The same data in other pieces: the same bytes (a layer's digest depends on its content only).
    const again = new Uint8Array(storedGzipSize(size));
    writeStoredGzip([data], again);
    assert.equal(sha(again), sha(out), `${size} bytes`);
  }
});

test("writeStoredGzip refuses a buffer of the wrong size, naming both sizes", () => {
  assert.throws(
    () => writeStoredGzip([new Uint8Array(10)], new Uint8Array(storedGzipSize(10) + 1)),
    /a stored gzip of 10 bytes is 33 bytes, not 34/,
  );
});
