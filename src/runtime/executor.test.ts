import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type LoadedImage, sha256Digest } from "../core/index.js";
import { customSection } from "../core/test-support.js";
import { compileCapped } from "../wasm/index.js";
import { HybridExecutor } from "./executor.js";
import type { WasiInputs } from "./types.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
function image(path: string, files: [string, string][] = []): LoadedImage {
  const module = readFileSync(`${root}${path}`);
  const entry = `/${path.split("/").pop()}`;
  const all = new Map<string, Uint8Array>([
    [entry, module],
    ...files.map(([p, c]) => [p, Buffer.from(c)] as const),
  ]);
  return { digest: sha256Digest(module), entry, module, files: all };
}
const inputs = (...args: string[]): WasiInputs => ({
  args: ["x.wasm", ...args],
  env: [],
  stdin: new Uint8Array(0),
});
const text = (b: Uint8Array) => Buffer.from(b).toString();
const OUT = 1024 * 1024;
const LIMITS = { timeoutMs: 2000, memoryMiB: 32, maxOutputBytes: OUT };
/** The deadline of a run starting now. */
const due = (limits: { timeoutMs: number }) => performance.now() + limits.timeoutMs;

const executor = new HybridExecutor({ mainBudgetMs: 20, demoteForMs: 60_000 });
after(() => executor.close());

test("runs a command and returns stdout, stderr and the exit code", async () => {
  const hello = image("examples/hello/hello.wasm");
  await executor.prepare(hello, LIMITS);
  assert.ok(executor.isPrepared(hello.digest, LIMITS));
  const r = await executor.run(hello.digest, inputs("a", "b"), LIMITS, due(LIMITS));
  assert.equal(r.error, undefined);
  assert.equal(text(r.stdout), "hello\na\nb\n");
  const fail = image("test/fixtures/fail.wasm");
  await executor.prepare(fail, LIMITS);
  const f = await executor.run(fail.digest, inputs(), LIMITS, due(LIMITS));
  assert.equal(f.exitCode, 3);
  assert.equal(f.error?.kind, "exit");
  assert.equal(text(f.stderr), "cannot do that\n");
});

test("a reused instance is reset: memory, globals, files and env as right after instantiation", async () => {
  const state = image("test/fixtures/state.wasm");
  await executor.prepare(state, LIMITS);
  const clean = "counter=1 heap=0 file=0 env=0\n";
  for (const args of [[], [], ["trap"], [], ["grow"], []]) {
    const r = await executor.run(state.digest, inputs(...args), LIMITS, due(LIMITS));
    if (args[0] === "trap") assert.equal(r.error?.kind, "trap");
    else assert.equal(text(r.stdout), clean, `after ${args.join(" ") || "a plain run"}`);
  }
});

test("a reset clears a 1 MiB stack, zero-filled and initialised arrays written all over by the last call", async () => {
  const scribble = image("test/fixtures/scribble.wasm");
  await executor.prepare(scribble, LIMITS);
  for (let i = 0; i < 4; i++) {
    const r = await executor.run(scribble.digest, inputs(), LIMITS, due(LIMITS));
    assert.equal(r.error, undefined);
    assert.equal(text(r.stdout), "stack=0 bss=0 data=ok\n", `call ${i + 1}`);
  }
});

test("mutable globals are reset too (AssemblyScript keeps module variables in globals), also after exit()", async () => {
  const state = image("test/fixtures/as-state.wasm");
  await executor.prepare(state, LIMITS);
  for (const args of [[], ["exit"], [], []]) {
    const r = await executor.run(state.digest, inputs(...args), LIMITS, due(LIMITS));
    assert.equal(text(r.stdout), "globals: counter=1\n", `after ${args.join(" ") || "a plain run"}`);
    assert.equal(r.exitCode, args[0] === "exit" ? 2 : 0);
  }
});

test("a memory bomb is stopped at the cap with a clear error", async () => {
  const bomb = image("test/fixtures/bomb.wasm");
  const limits = { timeoutMs: 5000, memoryMiB: 8, maxOutputBytes: OUT };
  await executor.prepare(bomb, limits);
  const r = await executor.run(bomb.digest, inputs(), limits, due(limits));
  assert.equal(r.error?.kind, "oom");
  assert.match(r.error?.message ?? "", /memory limit of 8 MiB/);
});

test("a runaway is stopped at its deadline, moved to a worker, and stopped there too", async () => {
  const loop = image("test/fixtures/loop.wasm");
  const limits = { timeoutMs: 300, memoryMiB: 16, maxOutputBytes: OUT };
  await executor.prepare(loop, limits);
  const t0 = performance.now();
  const first = await executor.run(loop.digest, inputs(), limits, due(limits));
  const took = performance.now() - t0;
  assert.equal(first.error?.kind, "timeout");
  assert.ok(took >= 290 && took < 1500, `stopped after ${took} ms`);
  // Now on a worker: the main thread stays free while it loops.
  assert.equal(executor.workersBusy, false);
  const pending = executor.run(loop.digest, inputs(), limits, due(limits));
  assert.equal(
    executor.workersBusy,
    true,
    "a worker runs the loop (the router does not busy-poll meanwhile)",
  );
  const hello = image("examples/hello/hello.wasm");
  const t1 = performance.now();
  const quick = await executor.run(hello.digest, inputs(), LIMITS, due(LIMITS));
  assert.ok(performance.now() - t1 < 50, "another function waited for the runaway");
  assert.equal(text(quick.stdout), "hello\n");
  assert.equal((await pending).error?.kind, "timeout");
  assert.equal(executor.workersBusy, false, "the worker is free again");
});

test("a slow but finite function is re-run on a worker and still answers", async () => {
  const spin = image("test/fixtures/spin.wasm");
  await executor.prepare(spin, LIMITS);
  // The first run passes the main thread's budget and is re-run on a worker; the rest go straight there,
  // each answering with its own output (outputs cross threads in buffers of their own).
  for (let i = 0; i < 4; i++) {
    const r = await executor.run(spin.digest, inputs("30"), LIMITS, due(LIMITS));
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(text(r.stdout), "done\n", `run ${i + 1}`);
  }
});

test("the prepared-module cache is bounded and evicts the least recently used", async () => {
  const small = new HybridExecutor({ maxPrepared: 2 });
  try {
    const imgs = ["examples/hello/hello.wasm", "test/fixtures/fail.wasm", "test/fixtures/trap.wasm"].map(
      (p) => image(p),
    );
    await small.prepare(imgs[0], LIMITS);
    await small.prepare(imgs[1], LIMITS);
    await new Promise((r) => setTimeout(r, 2));
    await small.run(imgs[0].digest, inputs(), LIMITS, due(LIMITS)); // now fail.wasm is the least recently used
    await small.prepare(imgs[2], LIMITS);
    assert.equal(small.isPrepared(imgs[1].digest, LIMITS), false);
    assert.ok(small.isPrepared(imgs[0].digest, LIMITS));
    assert.ok(small.isPrepared(imgs[2].digest, LIMITS));
    await assert.rejects(small.run(imgs[1].digest, inputs(), LIMITS, due(LIMITS)), /not prepared/);
  } finally {
    await small.close();
  }
});

/** `module` with a custom section of `bytes` zeros appended: as large as wanted, the same program. */
function padded(module: Uint8Array, bytes: number): Uint8Array {
  return Buffer.concat([module, customSection("pad", new Uint8Array(bytes))]);
}

test("a large module compiles lazily: its first run goes to a worker, later ones run here; release frees it", async () => {
  const ex = new HybridExecutor();
  try {
    const hello = image("examples/hello/hello.wasm");
    const module = padded(hello.module, 5 * 1024 * 1024);
    const big: LoadedImage = {
      digest: sha256Digest(module),
      entry: hello.entry,
      module,
      files: new Map([[hello.entry, module]]),
    };
    await ex.prepare(big, LIMITS);
    for (const arg of ["first", "second", "third"]) {
      const r = await ex.run(big.digest, inputs(arg), LIMITS, due(LIMITS));
      assert.equal(r.error, undefined);
      assert.equal(text(r.stdout), `hello\n${arg}\n`);
    }
    assert.equal(ex.poolStats.threads, 1, "the first run went to a worker, the others did not need one");
    ex.release(big.digest);
    assert.equal(ex.isPrepared(big.digest, LIMITS), false);
    await assert.rejects(ex.run(big.digest, inputs(), LIMITS, due(LIMITS)), /not prepared/);
  } finally {
    await ex.close();
  }
});

/** `path`'s module padded to 5 MiB: a large module (compiled lazily, rewritten in the background). */
function large(path: string): LoadedImage {
  const small = image(path);
  const module = padded(small.module, 5 * 1024 * 1024);
  return {
    digest: sha256Digest(module),
    entry: small.entry,
    module,
    files: new Map([[small.entry, module]]),
  };
}

test("a large module answers before its rewrite is done; once rewritten it answers the same", async () => {
  const ex = new HybridExecutor();
  try {
    const big = large("examples/hello/hello.wasm");
    await ex.prepare(big, LIMITS);
    const before = await ex.run(big.digest, inputs("before"), LIMITS, due(LIMITS));
    assert.equal(before.error, undefined);
    assert.equal(text(before.stdout), "hello\nbefore\n");
    await ex.rewritten(big.digest, LIMITS);
    for (const arg of ["after", "again", "and again"]) {
      const r = await ex.run(big.digest, inputs(arg), LIMITS, due(LIMITS));
      assert.equal(r.error, undefined);
      assert.equal(text(r.stdout), `hello\n${arg}\n`);
    }
  } finally {
    await ex.close();
  }
});

test("a large module compiled when its upload was checked is run as compiled, under the cap it was compiled for", async () => {
  const ex = new HybridExecutor();
  try {
    // The image's bytes are hello's; the compiled form handed over is fail's (exit 3): what runs shows which was used.
    const big = large("examples/hello/hello.wasm");
    const other = large("test/fixtures/fail.wasm");
    const pages = LIMITS.memoryMiB * 16;
    await ex.prepare({ ...big, compiled: compileCapped(other.module, pages) }, LIMITS);
    const r = await ex.run(big.digest, inputs("x"), LIMITS, due(LIMITS));
    assert.equal(r.exitCode, 3, "the compiled module handed over ran");
    assert.equal(text(r.stderr), "cannot do that\n");
    // Compiled under another cap, it is not used: the image's own bytes are compiled.
    const limits = { ...LIMITS, memoryMiB: 64 };
    await ex.prepare({ ...big, compiled: compileCapped(other.module, pages) }, limits);
    const own = await ex.run(big.digest, inputs("x"), limits, due(limits));
    assert.equal(own.error, undefined);
    assert.equal(text(own.stdout), "hello\nx\n");
  } finally {
    await ex.close();
  }
});

test("a large runaway is stopped at its deadline, and a large memory bomb at its cap, before and after the rewrite", async () => {
  const ex = new HybridExecutor();
  try {
    const loop = large("test/fixtures/loop.wasm");
    const bomb = large("test/fixtures/bomb.wasm");
    const loopLimits = { timeoutMs: 300, memoryMiB: 16, maxOutputBytes: OUT };
    const bombLimits = { timeoutMs: 5000, memoryMiB: 8, maxOutputBytes: OUT };
    await ex.prepare(loop, loopLimits);
    await ex.prepare(bomb, bombLimits);
    for (const phase of ["as uploaded", "rewritten", "rewritten, again"]) {
      const t0 = performance.now();
      const r = await ex.run(loop.digest, inputs(), loopLimits, due(loopLimits));
      const took = performance.now() - t0;
      assert.equal(r.error?.kind, "timeout", phase);
      assert.ok(took >= 290 && took < 2000, `${phase}: stopped after ${took.toFixed(0)} ms (timeout 300)`);
      const b = await ex.run(bomb.digest, inputs(), bombLimits, due(bombLimits));
      assert.equal(b.error?.kind, "oom", `${phase}: ${b.error?.message}`);
      assert.match(b.error?.message ?? "", /memory limit of 8 MiB/);
      await ex.rewritten(loop.digest, loopLimits);
      await ex.rewritten(bomb.digest, bombLimits);
    }
  } finally {
    await ex.close();
  }
});

test("a guest that sleeps never sleeps on the request thread, and its sleep ends at the deadline", async () => {
  const sleep = image("test/fixtures/sleep.wasm");
  const limits = { timeoutMs: 300, memoryMiB: 16, maxOutputBytes: OUT };
  await executor.prepare(sleep, limits);
  await executor.prepare(image("examples/hello/hello.wasm"), LIMITS);
  const hello = image("examples/hello/hello.wasm");
  // A short sleep answers (moved to a worker); one past the deadline times out at the deadline, not after it.
  const short = await executor.run(sleep.digest, inputs("50"), limits, due(limits));
  assert.equal(short.error, undefined, short.error?.message);
  assert.equal(text(short.stdout), "slept\n");
  for (const arg of ["5000", "forever"]) {
    const t0 = performance.now();
    const pending = executor.run(sleep.digest, inputs(arg), limits, due(limits));
    // Meanwhile the request thread serves another function at once.
    const t1 = performance.now();
    const quick = await executor.run(hello.digest, inputs(), LIMITS, due(LIMITS));
    assert.ok(performance.now() - t1 < 50, `another function waited ${performance.now() - t1} ms`);
    assert.equal(text(quick.stdout), "hello\n");
    const r = await pending;
    const took = performance.now() - t0;
    assert.equal(r.error?.kind, "timeout", `sleep ${arg}`);
    assert.ok(took >= 280 && took < 450, `sleep ${arg}: answered after ${took.toFixed(0)} ms (timeout 300)`);
  }
});

test("costly host calls in a loop (random_get of 1 MiB, memory.grow) stop at the budget and the deadline", async () => {
  const calls = image("test/fixtures/hostcalls.wasm");
  const limits = { timeoutMs: 400, memoryMiB: 64, maxOutputBytes: OUT };
  await executor.prepare(calls, limits);
  for (const arg of ["random", "grow", "random", "grow"]) {
    const t0 = performance.now();
    const r = await executor.run(calls.digest, inputs(arg), limits, due(limits));
    const took = performance.now() - t0;
    assert.ok(r.error?.kind === "timeout" || r.error?.kind === "oom", `${arg}: ${r.error?.kind}`);
    assert.ok(took < 600, `${arg}: answered after ${took.toFixed(0)} ms (timeout 400)`);
  }
});

test("a run whose caller goes away is stopped, sleeping or queued", async () => {
  const sleep = image("test/fixtures/sleep.wasm");
  const limits = { timeoutMs: 5000, memoryMiB: 16, maxOutputBytes: OUT };
  await executor.prepare(sleep, limits);
  const cancellers: (() => void)[] = [];
  const token = {
    cancelled: false,
    onCancel(cb: () => void) {
      cancellers.push(cb);
      return () => cancellers.splice(cancellers.indexOf(cb), 1);
    },
  };
  const t0 = performance.now();
  const pending = executor.run(sleep.digest, inputs("4000"), limits, due(limits), token);
  await new Promise((r) => setTimeout(r, 150));
  token.cancelled = true;
  for (const cb of [...cancellers]) cb();
  const r = await pending;
  assert.equal(r.error?.kind, "cancelled");
  assert.ok(performance.now() - t0 < 1000, `stopped after ${performance.now() - t0} ms`);
  // Already gone before it starts: never runs.
  const gone = await executor.run(sleep.digest, inputs("4000"), limits, due(limits), token);
  assert.equal(gone.error?.kind, "cancelled");
});

test("stdout over the output limit fails the run instead of cutting the body", async () => {
  const big = image("test/fixtures/bigout.wasm");
  const limits = { timeoutMs: 5000, memoryMiB: 16, maxOutputBytes: 1024 * 1024 };
  await executor.prepare(big, limits);
  const over = await executor.run(big.digest, inputs("2"), limits, due(limits));
  assert.equal(over.error?.kind, "output");
  assert.match(over.error?.message ?? "", /more than 1048576 bytes/);
  const within = await executor.run(big.digest, inputs("1"), limits, due(limits));
  assert.equal(within.error, undefined);
  assert.equal(within.stdout.byteLength, 1024 * 1024);
});

test("a run that waited past its deadline for a worker times out without running", async () => {
  const spin = image("test/fixtures/spin.wasm");
  const one = new HybridExecutor({ maxWorkers: 1, maxThreads: 1 });
  try {
    const limits = { timeoutMs: 300, memoryMiB: 16, maxOutputBytes: OUT };
    await one.prepare(spin, limits);
    // Demote it, then fill the one worker; the next run waits in the queue and times out at its deadline.
    await one.run(spin.digest, inputs("100"), limits, due(limits));
    const t0 = performance.now();
    const first = one.run(spin.digest, inputs("250"), limits, due(limits));
    const second = await one.run(spin.digest, inputs("250"), limits, due(limits));
    const took = performance.now() - t0;
    assert.equal(second.error?.kind, "timeout");
    assert.ok(took < 450, `the queued run answered after ${took.toFixed(0)} ms (timeout 300)`);
    assert.equal((await first).error, undefined);
  } finally {
    await one.close();
  }
});
