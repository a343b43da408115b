import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { customSection } from "../core/test-support.js";
import { lazyFlagState, lazyOff, lazyOn } from "./compile.js";
import { compileOnThread, stopCompileThread, ThreadCompile } from "./compile-thread.js";
import { wat } from "./test-support.js";

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
  assert.equal(new Int32Array(lazyFlagState())[0], 0, "no lazy window left open");
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

test("a module all there compiles on the thread, its buffer moved there; bytes V8 refuses reject", async () => {
  const bytes = new Uint8Array(
    Buffer.concat([await wat(GROWER), customSection("pad", new Uint8Array(3 << 20))]),
  );
  const copy = bytes.slice();
  const e = exports(await compileOnThread(copy, 2));
  assert.equal(e.add(40, 2), 42);
  assert.equal(e.grow(1), 1, "grows to the cap");
  assert.equal(e.grow(1), -1, "not past it");
  assert.equal(copy.buffer.byteLength, 0, "the buffer was moved, not copied");
  const inShared = shared(bytes, 16);
  await compileOnThread(inShared, 2);
  assert.equal(inShared.byteLength, bytes.byteLength, "shared memory stays");
  const invalid = await wat(`(module (func (export "f") (result i32) nop))`);
  await assert.rejects(compileOnThread(invalid.slice(), 2), /V8 refused the module/);
});

test("jobs of a compile thread that ended resolve without a module, and the next job starts another", async () => {
  const good = await wat(GROWER);
  const module = shared(good, 0);
  const c = new ThreadCompile(module, 4);
  c.advance(module, 10);
  await stopCompileThread();
  assert.equal(await c.result, undefined);
  assert.ok(await arrive(shared(good, 0), good.length, 4, 64));
});

test("the lazy flag's holders are counted across threads, under a lock", async () => {
  const url = new URL("./compile.js", import.meta.url).href;
  const rounds = 20_000;
  const worker = new Worker(
    `const { workerData, parentPort } = require("node:worker_threads");
     import(${JSON.stringify(url)}).then((m) => {
       m.adoptLazyFlag(workerData.state);
       for (let i = 0; i < workerData.rounds; i++) { m.lazyOn(); m.lazyOff(); }
       parentPort.postMessage("done");
     });`,
    { eval: true, workerData: { state: lazyFlagState(), rounds } },
  );
  const done = new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  let mine = 0;
  while ((await Promise.race([done, new Promise((r) => setImmediate(() => r(undefined)))])) === undefined) {
    for (let i = 0; i < 200; i++) {
      lazyOn();
      mine++;
      lazyOff();
    }
  }
  await worker.terminate();
  assert.ok(mine > 0);
  const state = new Int32Array(lazyFlagState());
  assert.equal(state[0], 0, "every holder let go");
  assert.equal(state[1], 0, "the lock is free");
});
