import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Digest } from "../core/index.js";
import { INVOCATION_PREFIX } from "../core/index.js";
import type { InvocationRecord } from "../runtime/index.js";
import { type DroppedLogs, MemoryStore, SqliteStore } from "../store/index.js";
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
    invocation: 1,
    ...more,
  };
}

test("records come back from the store as entries: time, status, duration, digest, stderr, error, invocation id, traceparent", async () => {
  const store = new MemoryStore();
  const buf = new LogBuffer((p) => store.appendLogs(unpackLogs(p)), 60_000);
  buf.add(record("f", { durationMs: 0.125, invocation: 41 }));
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
  const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  buf.add(
    record("f", { digest: DIGEST_B, startedMs: T0 + 2, status: 404, invocation: 1295, traceparent: tp }),
  );
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
        invocationId: `${INVOCATION_PREFIX}-15`,
      },
      {
        function: "f",
        time: "2026-11-25T12:00:00.125Z",
        status: 404,
        durationMs: 1,
        digest: DIGEST_B,
        stderr: "",
        invocationId: `${INVOCATION_PREFIX}-zz`,
        traceparent: tp,
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
      batches.push(unpackLogs(p).length);
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

test("a writer that falls behind costs dropped records, not unbounded memory: counted per function and reported", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let written = 0;
  const dropped: DroppedLogs[] = [];
  const lines: { at: number; message: string }[] = [];
  const buf = new LogBuffer(
    async (p) => {
      await gate;
      written += unpackLogs(p).length;
      if (p.dropped) dropped.push(p.dropped);
    },
    60_000,
    2,
    (e) => lines.push({ at: performance.now(), message: (e as Error).message }),
    300,
  );
  // 20 batches of 2 wait for the writer; the last 10 records (6 of f, 4 of g) find it full.
  for (let i = 0; i < 50; i++) buf.add(record(i < 46 ? "f" : "g", { startedMs: T0 + i }));
  assert.deepEqual(
    lines.map((l) => l.message),
    [
      "the log writer is behind: 2 invocation records dropped (`wasmlet fn logs` shows each function's count)",
    ],
    "the first drop is reported at once, the next ones wait",
  );
  release();
  // Resolves once the counts are stored, though no record came after the drops.
  await buf.flush();
  assert.equal(written, 40);
  assert.deepEqual(dropped, [{ f: 6, g: 4 }]);
  for (let waited = 0; lines.length < 2 && waited < 5000; waited += 20)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(lines[1]?.message ?? "", /^the log writer is behind: 8 invocation records dropped /);
  assert.ok(lines[1].at - lines[0].at >= 299, `${lines[1].at - lines[0].at} ms between the lines`);
  await buf.flush();
  assert.equal(lines.length, 2);
  assert.equal(dropped.length, 1, "counts are handed over once");
});

test("counts carried by a batch that fails to store go with the next one", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let fail = true;
  const dropped: DroppedLogs[] = [];
  const buf = new LogBuffer(
    async (p) => {
      await gate;
      if (p.dropped && fail) {
        fail = false;
        throw new Error("disk full");
      }
      if (p.dropped) dropped.push(p.dropped);
    },
    60_000,
    1,
  );
  for (let i = 0; i < 23; i++) buf.add(record("f"));
  release();
  await buf.flush();
  assert.deepEqual(dropped, []);
  buf.add(record("f"));
  await buf.flush();
  assert.deepEqual(dropped, [{ f: 3 }]);
});

test("the writer thread stores packed batches and drop counts in SQLite, readable from another connection", async () => {
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
    // Drop counts cross with a batch (here one without records) and are stored by the writer thread too.
    await writer.write({
      strings: [],
      nums: new Float64Array(0),
      prefix: "p",
      extras: [],
      dropped: { w: 7 },
    });
    assert.equal(await reader.droppedLogs("w"), 7);
  } finally {
    await writer.close();
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an invocation a trigger started keeps its trigger in the store; an HTTP one has none", async () => {
  const store = new MemoryStore();
  const buf = new LogBuffer((p) => store.appendLogs(unpackLogs(p)), 60_000);
  buf.add(record("f", { trigger: { kind: "timer", name: "nightly" } }));
  buf.add(record("f", { startedMs: T0 + 1 }));
  await buf.flush();
  const [timed, http] = await store.readLogs("f");
  assert.deepEqual(timed.trigger, { kind: "timer", name: "nightly" });
  assert.equal(timed.stderr, "");
  assert.equal("trigger" in http, false);
});
