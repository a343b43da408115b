import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { release } from "node:os";
import { test } from "node:test";
import { load, nativeLayerHasher, tuneMalloc } from "./malloc-tune.js";
import { REQUEST_SLICE_NS, shortenRequestSlice } from "./request-slice.js";

// npm's install step builds the addon (python3, make and a C compiler are part of the set-up); on glibc the
// threshold is accepted. Without it a server keeps up to 32 MiB-sized freed buffers for good (see the module).
test("the malloc tuning addon is built by npm install and fixes glibc's mmap threshold, and the trim threshold for serve", () => {
  assert.equal(tuneMalloc(), true);
  assert.equal(tuneMalloc(true), true);
  const tune = load()?.tune;
  assert.ok(tune);
  assert.equal(tune(128 * 1024, 0), false, "a trim threshold of nothing is refused");
  assert.equal(tune(128 * 1024, 2 ** 31), false, "so is one over 1 GiB");
  assert.equal(tune(128 * 1024, undefined), true, "none given: the mmap threshold alone");
});

test("the request thread's scheduler slice is shortened where the kernel has per-thread slices", (t) => {
  const slice = () =>
    Number(/se\.slice\s*:\s*(\d+)/.exec(readFileSync("/proc/thread-self/sched", "utf8"))?.[1] ?? Number.NaN);
  const before = slice();
  const got = shortenRequestSlice(REQUEST_SLICE_NS);
  if (got === 0) return t.skip(`the kernel did not take a per-thread slice (slice ${before} ns)`);
  assert.equal(got, REQUEST_SLICE_NS);
  assert.equal(slice(), REQUEST_SLICE_NS, "the kernel reports the new slice for this thread");
  assert.equal(shortenRequestSlice(-5), 0, "nonsense is not passed on");
});

test("the addon's sha256 hashes on libuv's pool what is queued, in order, and gives node's digest, for shared memory and views; it refuses misuse by name", async () => {
  const make = nativeLayerHasher();
  assert.ok(make, "npm install builds the addon with its sha256");
  const shared = new Uint8Array(new SharedArrayBuffer(5 * 1024 * 1024 + 77));
  for (let i = 0; i < shared.length; i += 997) shared[i] = i & 255;
  const plain = new Uint8Array(randomBytes(300_001));
  const cases = [[], [new Uint8Array(0)], [shared], [plain.subarray(1, 7), shared.subarray(3), plain]];
  for (const pieces of cases) {
    const node = createHash("sha256");
    for (const p of pieces) node.update(p);
    const expected = `sha256:${node.digest("hex")}`;
    // Queued at once, and each after the previous is hashed.
    const h = make();
    for (const p of pieces) h.update(p);
    assert.equal(await h.digest(), expected);
    const h2 = make();
    for (const p of pieces) {
      h2.update(p);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await h2.digest(), expected);
  }
  const h = make();
  h.update(shared);
  assert.throws(() => h.update(new Uint16Array(4) as unknown as Uint8Array), /must be a Uint8Array/);
  const digest = h.digest();
  assert.throws(() => h.update(plain), /the digest was asked for/);
  assert.equal(await digest, `sha256:${createHash("sha256").update(shared).digest("hex")}`);
});

test("the addon's populate makes a buffer's pages resident on libuv's pool, keeping what they hold, even while written", async (t) => {
  const populate = load()?.populate;
  assert.ok(populate, "npm install builds the addon with populate");
  const MiB = 1 << 20;
  const bytes = new Uint8Array(new SharedArrayBuffer(96 * MiB));
  for (let i = 0; i < 8 * MiB; i += 4096) bytes[i] = 7;
  const before = process.memoryUsage().rss;
  const done = populate(bytes);
  // Written on this thread while the pool thread populates the same memory.
  for (let i = 8 * MiB; i < 16 * MiB; i += 4096) bytes[i] = 9;
  // MADV_POPULATE_WRITE came with Linux 5.14; before it the kernel refuses it (the body is then read as before).
  const [major, minor] = release().split(".").map(Number);
  if (major < 5 || (major === 5 && minor < 14)) {
    assert.equal(await done, false);
    return t.skip(`Linux ${release()} has no MADV_POPULATE_WRITE`);
  }
  assert.equal(await done, true);
  const grew = (process.memoryUsage().rss - before) / MiB;
  assert.ok(grew > 64, `RSS grew ${grew.toFixed(1)} MiB for 96 MiB populated, 16 of them written here`);
  for (let i = 0; i < 16 * MiB; i += 4096) assert.equal(bytes[i], i < 8 * MiB ? 7 : 9, `byte ${i}`);
  assert.ok(
    bytes.subarray(16 * MiB).every((b) => b === 0),
    "the rest still zeros",
  );
  assert.equal(
    await populate(new Uint8Array(new SharedArrayBuffer(100)).subarray(10, 20)),
    true,
    "no whole page",
  );
  for (const wrong of [new Uint16Array(new SharedArrayBuffer(8)), new Uint8Array(8)])
    assert.throws(
      () => populate(wrong as Uint8Array),
      /populate: expects a Uint8Array of a SharedArrayBuffer/,
      wrong.constructor.name,
    );
});
