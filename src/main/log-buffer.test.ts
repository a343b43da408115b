import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Digest } from "../core/index.js";
import type { InvocationRecord } from "../runtime/index.js";
import { MemoryStore, SqliteStore } from "../store/index.js";
import { LogBuffer, unpackLogs } from "./log-buffer.js";
import { LogWriterThread } from "./log-writer.js";

const DIGEST_A: Digest = `sha256:${"a".repeat(64)}`;
const DIGEST_B: Digest = `sha256:${"b".repeat(64)}`;
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0, 123);

/** A successful invocation of `fn` without stderr, with the fields given in `more` changed. */
function record(fn: string, more: Partial<InvocationRecord> = {}): InvocationRecord {
  return {
    function: fn,
    digest: DIGEST_A,
    startedMs: T0,
    status: 200,
    durationMs: 1,
    stderr: new Uint8Array(),
    ...more,
  };
}

test("records come back from the store as entries: time, status, duration, digest, stderr and error", async () => {
  const store = new MemoryStore();
  const buf = new LogBuffer((p) => store.appendLogs(unpackLogs(p)), 60_000);
  buf.add(record("f", { durationMs: 0.125 }));
  buf.add(
    record("g", {
      digest: DIGEST_B,
      startedMs: T0 + 1,
      status: 500,
      durationMs: 3,
      stderr: Buffer.from("boom ü\n"),
      error: "function g failed: trap: unreachable",
    }),
  );
  buf.add(record("f", { digest: DIGEST_B, startedMs: T0 + 2, status: 404 }));
  await buf.flush();
  const f = await store.readLogs("f");
  assert.deepEqual(
    f.map(({ id: _, ...e }) => e),
    [
      {
        function: "f",
        time: "2026-11-25T12:00:00.123Z",
        status: 200,
        durationMs: 0.125,
        digest: DIGEST_A,
        stderr: "",
      },
      {
        function: "f",
        time: "2026-11-25T12:00:00.125Z",
        status: 404,
        durationMs: 1,
        digest: DIGEST_B,
        stderr: "",
      },
    ],
  );
  const [g] = await store.readLogs("g");
  assert.equal(g.stderr, "boom ü\n");
  assert.equal(g.error, "function g failed: trap: unreachable");
  assert.equal(g.status, 500);
});

test("a full batch is written at once, before the interval; later records start a new batch", async () => {
  const store = new MemoryStore();
  const batches: number[] = [];
  const buf = new LogBuffer(
    async (p) => {
      batches.push(p.nums.length / 5);
      await store.appendLogs(unpackLogs(p));
    },
    60_000,
    4,
  );
  for (let i = 0; i < 6; i++) buf.add(record(`f${i % 2}`, { startedMs: T0 + i, durationMs: i }));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(batches, [4]);
  await buf.flush();
  assert.deepEqual(batches, [4, 2]);
  assert.deepEqual(
    (await store.readLogs("f1")).map((e) => e.durationMs),
    [1, 3, 5],
  );
});

test("a writer that falls behind costs dropped records (counted and reported), not unbounded memory", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let written = 0;
  const errors: string[] = [];
  const buf = new LogBuffer(
    async (p) => {
      await gate;
      written += p.nums.length / 5;
    },
    60_000,
    2,
    (e) => errors.push(String(e)),
  );
  for (let i = 0; i < 50; i++) buf.add(record("f", { startedMs: T0 + i }));
  release();
  await buf.flush();
  await new Promise((r) => setImmediate(r));
  assert.equal(written, 40);
  assert.deepEqual(errors, ["Error: the log writer is behind: 10 invocation records were dropped"]);
});

test("the writer thread stores packed batches in SQLite, readable from another connection", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-logs-"));
  const reader = new SqliteStore(dir);
  const writer = new LogWriterThread(dir);
  try {
    const buf = new LogBuffer(writer.write, 60_000);
    for (let i = 0; i < 3; i++) buf.add(record("w", { startedMs: T0 + i, status: 200 + i }));
    await buf.flush();
    const got = await reader.readLogs("w");
    assert.deepEqual(
      got.map((e) => [e.status, e.time]),
      [
        [200, "2026-11-25T12:00:00.123Z"],
        [201, "2026-11-25T12:00:00.124Z"],
        [202, "2026-11-25T12:00:00.125Z"],
      ],
    );
  } finally {
    await writer.close();
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
