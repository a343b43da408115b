import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { AssemblyScriptBuilder } from "./assemblyscript-builder.js";
import { BuildQueue } from "./build-queue.js";
import { MINIMAL_COMMAND, sourceTree } from "./test-support.js";
import type { BuildInput } from "./types.js";

// Real builds through a real builder; the user build command only copies a ready module, so that the
// queue's behaviour, not compile time, decides how long each job takes.
const builder = new AssemblyScriptBuilder();
const scratch = await mkdtemp(join(tmpdir(), "wasmlet-queue-test-"));
after(() => rm(scratch, { recursive: true, force: true }));

function job(trace: string, id: string, sleep = 0.2): BuildInput {
  return {
    files: sourceTree({ "start.wasm": MINIMAL_COMMAND }),
    buildCommand: `echo start-${id} >> '${trace}'; sleep ${sleep}; echo end-${id} >> '${trace}'; cp start.wasm "$BUILD_OUTPUT"`,
  };
}

const lines = async (trace: string) => (await readFile(trace, "utf8")).trim().split("\n");

test("concurrency 1 runs builds one after another, in order", async () => {
  const trace = join(scratch, "serial");
  const queue = new BuildQueue({ concurrency: 1 });
  const runs = ["a", "b", "c"].map((id) => queue.run(builder, job(trace, id)));
  assert.deepEqual(queue.load, { running: 1, queued: 2 });
  for (const out of await Promise.all(runs)) assert.deepEqual(out.module, MINIMAL_COMMAND);
  assert.deepEqual(await lines(trace), ["start-a", "end-a", "start-b", "end-b", "start-c", "end-c"]);
  assert.deepEqual(queue.load, { running: 0, queued: 0 });
});

test("concurrency 2 overlaps two builds", async () => {
  const trace = join(scratch, "parallel");
  const queue = new BuildQueue({ concurrency: 2 });
  await Promise.all(["a", "b"].map((id) => queue.run(builder, job(trace, id, 0.5))));
  assert.deepEqual((await lines(trace)).slice(0, 2).sort(), ["start-a", "start-b"]);
});

test("a full queue refuses more work with OVERLOADED, and the accepted builds still finish", async () => {
  const trace = join(scratch, "overload");
  const queue = new BuildQueue({ concurrency: 1, maxQueued: 1 });
  const first = queue.run(builder, job(trace, "a"));
  const second = queue.run(builder, job(trace, "b"));
  await assert.rejects(queue.run(builder, job(trace, "c")), (e) => isWasmletError(e, "OVERLOADED"));
  await Promise.all([first, second]);
  assert.ok(!(await lines(trace)).includes("start-c"));
});

test("the queue's time limit applies to jobs that set none, counted from their start", async () => {
  const queue = new BuildQueue({ timeoutMs: 400 });
  const trace = join(scratch, "timeout");
  const waiting = queue.run(builder, job(trace, "ok", 0.2));
  const slow = queue.run(builder, { ...job(trace, "slow"), buildCommand: "sleep 30" });
  await waiting; // it ran for ~200 ms of the next job's waiting time, which must not count
  await assert.rejects(
    slow,
    (e) => isWasmletError(e, "BUILD_FAILED") && /time limit of 400 ms/.test(e.message),
  );
});

test("a job aborted while it waits leaves the queue without running", async () => {
  const trace = join(scratch, "abort");
  const queue = new BuildQueue({ concurrency: 1 });
  const ac = new AbortController();
  const first = queue.run(builder, job(trace, "a"));
  const second = queue.run(builder, { ...job(trace, "b"), signal: ac.signal });
  ac.abort();
  await assert.rejects(second, (e) => isWasmletError(e, "BUILD_FAILED") && /cancelled/.test(e.message));
  assert.deepEqual(queue.load, { running: 1, queued: 0 });
  await first;
  assert.ok(!(await lines(trace)).includes("start-b"));
});
