import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { customSection } from "../core/test-support.js";
import { dropLazyHolds, lazyFlagState, lazyHolders, lazyOff, lazyOn } from "./compile.js";
import { compileOnThread, stopCompileThread, ThreadCompile } from "./compile-thread.js";
import { manyFunctions, wat } from "./test-support.js";

const GROWER = `(module
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`;

function exports(m: WebAssembly.Module) {
  return new WebAssembly.Instance(m).exports as {
    grow(n: number): number;
    add(a: number, b: number): number;
  };
}

/** `bytes` copied into shared memory at `offset` (as a body whose module part starts there). */
function shared(bytes: Uint8Array, offset: number): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(offset + bytes.length + 64), offset, bytes.length);
  view.set(bytes);
  return view;
}

/** Feeds `module` (a view of shared memory) to a ThreadCompile as a body arrives: pieces of up to `most` bytes. */
async function arrive(module: Uint8Array, length: number, pages: number, most: number) {
  const c = new ThreadCompile(module, pages);
  let end = 0;
  for (let i = 0; end < length; i++) {
    end = Math.min(length, end + 1 + ((i * 7919) % most));
    c.advance(module, end);
    if (i % 4 === 0) await new Promise((r) => setImmediate(r));
  }
  c.finish(module, length);
  return c.result;
}

test("a module arriving in shared memory is compiled by the compile thread, capped, in pieces of any size", async () => {
  // 1 MiB of custom section after the code: the module arrives in many pieces.
  const bytes = new Uint8Array(
    Buffer.concat([await wat(GROWER), customSection("pad", new Uint8Array(1 << 20))]),
  );
  for (const most of [997, 65_536, 300_000]) {
    const module = shared(bytes, 1000);
    const compiled = await arrive(module, bytes.length, 3, most);
    assert.ok(compiled, `pieces of up to ${most} bytes`);
    assert.equal(compiled.maxMemoryPages, 3);
    assert.ok(compiled.module instanceof WebAssembly.Module);
    const e = exports(compiled.module);
    assert.equal(e.add(2, 40), 42);
    assert.equal(e.grow(2), 1, "grows to the cap");
    assert.equal(e.grow(1), -1, "not past it");
  }
  assert.equal(lazyHolders(), 0, "no lazy window left open");
});

test("an abandoned, invalid or cut short module on the compile thread gives no module; the thread goes on", async () => {
  const good = await wat(GROWER);
  const abandoned = shared(good, 0);
  const c = new ThreadCompile(abandoned, 4);
  c.advance(abandoned, 12);
  c.abandon();
  c.finish(abandoned, good.length);
  assert.equal(await c.result, undefined, "abandoned");
  const invalid = await wat(`(module (func (export "f") (result i32) nop))`);
  assert.equal(await arrive(shared(invalid, 8), invalid.length, 4, 5), undefined, "invalid");
  assert.equal(await arrive(shared(good, 8), good.length - 5, 4, 5), undefined, "cut short");
  assert.equal(await arrive(shared(good, 8), good.length, 0, 64), undefined, "over the cap");
  // A piece given in other memory than the module's: the compile stops rather than read the wrong bytes.
  const moved = shared(good, 8);
  const other = new ThreadCompile(moved, 4);
  other.advance(shared(good, 8), good.length);
  other.finish(moved, good.length);
  assert.equal(await other.result, undefined, "other memory");
  assert.throws(() => new ThreadCompile(good, 4), /shared memory/);
  assert.ok(await arrive(shared(good, 8), good.length, 4, 64), "still compiles after all that");
});

test("a module all there compiles on the thread (copied to shared memory if not there), or on this thread when the thread fails; bytes V8 refuses reject", async () => {
  const bytes = new Uint8Array(
    Buffer.concat([await wat(GROWER), customSection("pad", new Uint8Array(3 << 20))]),
  );
  for (const given of [bytes, shared(bytes, 16)]) {
    const e = exports(await compileOnThread(given, 2));
    assert.equal(e.add(40, 2), 42);
    assert.equal(e.grow(1), 1, "grows to the cap");
    assert.equal(e.grow(1), -1, "not past it");
    assert.equal(given.byteLength, bytes.byteLength, "the caller's bytes stay as they were");
  }
  const invalid = await wat(`(module (func (export "f") (result i32) nop))`);
  await assert.rejects(compileOnThread(invalid, 2), /V8 refused the module/);
  // Not only in the first function: the thread's compile validates every one (a rewritten module, all there).
  await assert.rejects(compileOnThread(await manyFunctions(300, 200, 3 << 20), 2), /V8 refused the module/);
  // The thread ends under the job: compiled here instead, capped the same.
  const job = compileOnThread(bytes, 2);
  await stopCompileThread();
  const e = exports(await job);
  assert.equal(e.grow(1), 1);
  assert.equal(e.grow(1), -1);
});

test("jobs of a compile thread that ended resolve without a module, and the next job starts another", {
  timeout: 20_000,
}, async () => {
  const good = await wat(GROWER);
  const module = shared(good, 0);
  const c = new ThreadCompile(module, 4);
  c.advance(module, 10);
  await stopCompileThread();
  assert.equal(await c.result, undefined);
  assert.ok(await arrive(shared(good, 0), good.length, 4, 64));
});

/** A thread that adopts the lazy flag's state as the compile thread's slot and does what it is told. */
function flagThread(): {
  tell(what: "on" | "off" | "rounds", rounds?: number): Promise<void>;
  worker: Worker;
} {
  const url = new URL("./compile.js", import.meta.url).href;
  const worker = new Worker(
    `const { workerData, parentPort } = require("node:worker_threads");
     import(${JSON.stringify(url)}).then((m) => {
       m.adoptLazyFlag(workerData, 1);
       parentPort.on("message", ({ what, rounds }) => {
         if (what === "on") m.lazyOn();
         else if (what === "off") m.lazyOff();
         else for (let i = 0; i < rounds; i++) { m.lazyOn(); m.lazyOff(); }
         parentPort.postMessage("done");
       });
       parentPort.postMessage("ready");
     });`,
    { eval: true, workerData: lazyFlagState() },
  );
  let ready = new Promise<void>((resolve) => worker.once("message", () => resolve()));
  return {
    worker,
    async tell(what, rounds) {
      await ready;
      ready = new Promise<void>((resolve) => worker.once("message", () => resolve()));
      worker.postMessage({ what, rounds });
      await ready;
    },
  };
}

test("the lazy flag's holds are counted across threads; a thread that ended has its holds dropped", {
  timeout: 20_000,
}, async () => {
  const t = flagThread();
  try {
    await t.tell("on");
    assert.equal(lazyHolders(), 1, "the thread's hold is seen here");
    lazyOn();
    assert.equal(lazyHolders(), 2);
    await t.tell("off");
    assert.equal(lazyHolders(), 1, "its lazyOff does not end this thread's hold");
    lazyOff();
    assert.equal(lazyHolders(), 0);
    // Both threads at once, many times: every hold let go, the lock free.
    const rounds = t.tell("rounds", 20_000);
    let mine = 0;
    let settled = false;
    void rounds.then(() => {
      settled = true;
    });
    while (!settled) {
      for (let i = 0; i < 200; i++, mine++) {
        lazyOn();
        lazyOff();
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(mine > 0);
    assert.equal(lazyHolders(), 0);
    assert.equal(new Int32Array(lazyFlagState())[0], 0, "the lock is free");
    // Terminated while it holds the flag: its hold would keep every later compile lazy until dropped.
    await t.tell("on");
    await t.worker.terminate();
    assert.equal(lazyHolders(), 1);
    dropLazyHolds(1);
    assert.equal(lazyHolders(), 0);
  } finally {
    await t.worker.terminate();
  }
});

test("a lock left by a thread that ended holding it is taken over", { timeout: 20_000 }, () => {
  const state = new Int32Array(lazyFlagState());
  Atomics.store(state, 0, 2); // as if the compile thread (slot 1) had ended inside the lock
  const t0 = performance.now();
  lazyOn();
  lazyOff();
  assert.ok(performance.now() - t0 >= 900, "waited for it first");
  assert.equal(Atomics.load(state, 0), 0, "free after");
  assert.equal(lazyHolders(), 0);
});
