import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { APPEND_BATCH_BYTES, BatchedAppend } from "./store-append.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "wasmlet-append-"));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Appends `chunks` to `file` as the upload code does: waiting whenever add() asks; returns how often it asked. */
async function appendAll(file: string, chunks: Buffer[]): Promise<number> {
  const fh = await open(file, "a");
  const out = new BatchedAppend(fh);
  let waits = 0;
  try {
    for (const c of chunks) {
      const wait = out.add(c);
      if (wait) {
        waits++;
        await wait;
      }
    }
    await out.finish();
  } finally {
    await out.settled();
    await fh.close();
  }
  return waits;
}

test("chunks of every size reach the end of the file in order, across batches", async () => {
  const file = join(dir, "mixed");
  await writeFile(file, "already here|");
  const chunks = [
    // More tiny chunks than one batch holds, then sizes around and above the batch size.
    ...Array.from({ length: 600 }, (_, i) => Buffer.from([i % 251])),
    randomBytes(APPEND_BATCH_BYTES - 1),
    randomBytes(1),
    randomBytes(3 * APPEND_BATCH_BYTES + 17),
    ...Array.from({ length: 40 }, (_, i) => randomBytes(1000 * (i + 1))),
  ];
  await appendAll(file, chunks);
  const want = Buffer.concat([Buffer.from("already here|"), ...chunks]);
  const got = await readFile(file);
  assert.equal(got.length, want.length);
  assert.ok(got.equals(want), "the file holds the prefix and every chunk, in order");
});

test("add asks the caller to wait once per full batch, so at most two batches are held", async () => {
  const chunk = randomBytes(64 * 1024);
  const chunks = Array.from({ length: (4 * APPEND_BATCH_BYTES) / chunk.length }, () => chunk);
  assert.equal(await appendAll(join(dir, "paced"), chunks), 4);
  assert.equal((await readFile(join(dir, "paced"))).length, 4 * APPEND_BATCH_BYTES);
});

test("a write the disk refuses rejects finish() with its error; settled() still resolves", async () => {
  const file = join(dir, "read-only");
  await writeFile(file, "");
  const fh = await open(file, "r");
  const out = new BatchedAppend(fh);
  try {
    await out.add(randomBytes(APPEND_BATCH_BYTES));
    const next = out.add(randomBytes(APPEND_BATCH_BYTES));
    await assert.rejects(async () => next, { code: "EBADF" }, "the wait for the failed write rejects");
    await assert.rejects(out.finish(), { code: "EBADF" });
    await out.settled();
  } finally {
    await fh.close();
  }
  assert.equal((await readFile(file)).length, 0);
});
