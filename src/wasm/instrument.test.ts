import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { FUEL_EXPORT, instrumentModule } from "./index.js";
import { DeadlineExceeded, instantiate, readFixture, runCommand, wat } from "./test-support.js";

const CAP = { maxMemoryPages: 256 };
type Fn = (...args: number[]) => number;

const RUNAWAYS: { name: string; body: string }[] = [
  { name: "endless loop", body: `(func (export "_start") (loop $l (br $l)))` },
  {
    name: "loop nested in a block, left by br_if never taken",
    body: `(func (export "_start") (local i32)
      (block $out (loop $l (br_if $out (i32.lt_s (local.get 0) (i32.const 0)))
        (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br $l))))`,
  },
  { name: "self recursion without loops", body: `(func $f (export "_start") (call $f))` },
  {
    name: "mutual recursion",
    body: `(func $f (export "_start") (call $g)) (func $g (call $f))`,
  },
  {
    name: "tail self call (never overflows the stack)",
    body: `(func $f (export "_start") (return_call $f))`,
  },
  {
    name: "recursion through call_indirect",
    body: `(type $v (func)) (table 1 funcref) (elem (i32.const 0) $f)
      (func $f (export "_start") (call_indirect (type $v) (i32.const 0)))`,
  },
];

for (const { name, body } of RUNAWAYS) {
  test(`a runaway module is stopped by the deadline import: ${name}`, async () => {
    const original = await wat(`(module (memory (export "memory") 1) ${body})`);
    const { bytes } = instrumentModule(original, CAP);
    const instance = instantiate(bytes, { refill: 200, maxCalls: 3 });
    assert.throws(() => (instance.exports._start as Fn)(), DeadlineExceeded);
    assert.equal(instance.deadlineCalls(), 4);
  });
}

test("a clang-built command prints the same output instrumented, and is bounded by the deadline", () => {
  const original = readFixture("hello.wasm");
  const { bytes } = instrumentModule(original, CAP);
  assert.ok(WebAssembly.validate(bytes as BufferSource));
  const expected = runCommand(original);
  assert.match(expected.stdout, /^hello from wasm\n/);
  const got = runCommand(bytes, { refill: 1000, maxCalls: Number.POSITIVE_INFINITY });
  assert.equal(got.stdout, expected.stdout);
  assert.equal(got.exitCode, expected.exitCode);
  assert.ok(got.deadlineCalls > 10, `deadline called ${got.deadlineCalls} times`);
  assert.throws(() => runCommand(bytes, { refill: 1000, maxCalls: 3 }), DeadlineExceeded);
});

const GROWTH: { declared: string; cap: number; grow: number; original: number; instrumented: number }[] = [
  { declared: "1", cap: 4, grow: 10, original: 1, instrumented: -1 },
  { declared: "1", cap: 4, grow: 3, original: 1, instrumented: 1 },
  { declared: "1 100", cap: 4, grow: 4, original: 1, instrumented: -1 },
  { declared: "1 2", cap: 4, grow: 2, original: -1, instrumented: -1 },
  { declared: "2 2", cap: 4, grow: 0, original: 2, instrumented: 2 },
];

for (const { declared, cap, grow, original, instrumented } of GROWTH) {
  test(`memory (${declared}) capped at ${cap} pages: memory.grow ${grow} returns ${instrumented}`, async () => {
    const bytes = await wat(`(module (memory (export "memory") ${declared}) (func (export "_start"))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    const before = instantiate(bytes).exports.grow as Fn;
    assert.equal(before(grow), original);
    const after = instantiate(instrumentModule(bytes, { maxMemoryPages: cap }).bytes).exports.grow as Fn;
    assert.equal(after(grow), instrumented);
  });
}

test("a module whose initial memory exceeds the cap is rejected, naming both sizes in MiB", async () => {
  const bytes = await wat(`(module (memory (export "memory") 20) (func (export "_start")))`);
  assert.throws(
    () => instrumentModule(bytes, { maxMemoryPages: 16 }),
    (e) => isWasmletError(e, "INVALID_MODULE") && /1\.25 MiB/.test(e.message) && /\b1 MiB/.test(e.message),
  );
  assert.throws(
    () => instrumentModule(bytes, { maxMemoryPages: -1 }),
    (e) => isWasmletError(e, "INVALID_ARGUMENT"),
  );
});

test("every mutable global is exported, so the host can snapshot and restore it", async () => {
  const bytes = await wat(`(module (memory (export "memory") 1)
    (global $sp (mut i32) (i32.const 1024))
    (global $k i32 (i32.const 7))
    (global $counter (export "counter") (mut i64) (i64.const 5))
    (global $f (mut f64) (f64.const 1.5))
    (func (export "_start"))
    (func (export "read_sp") (result i32) (global.get $sp))
    (func (export "bump") (global.set $counter (i64.add (global.get $counter) (i64.const 1)))))`);
  const out = instrumentModule(bytes, CAP);
  assert.deepEqual(out.globalExports, ["__wasmlet_global_0", "counter", "__wasmlet_global_3"]);
  assert.equal(out.info.mutableGlobals, 3);
  assert.equal(out.fuelExport, FUEL_EXPORT);
  const { exports } = instantiate(out.bytes);
  const sp = exports.__wasmlet_global_0 as WebAssembly.Global;
  assert.equal(sp.value, 1024);
  sp.value = 99;
  assert.equal((exports.read_sp as Fn)(), 99);
  (exports.bump as Fn)();
  assert.equal((exports.counter as WebAssembly.Global).value, 6n);
  assert.equal((exports.__wasmlet_global_3 as WebAssembly.Global).value, 1.5);
  assert.equal(exports.__wasmlet_global_1, undefined, "an immutable global is not exported");
  assert.ok(exports[FUEL_EXPORT] instanceof WebAssembly.Global);
});

test("a module already exporting a __wasmlet_ name is rejected", async () => {
  const bytes = await wat(`(module (memory (export "memory") 1) (func (export "_start"))
    (global (export "__wasmlet_fuel") (mut i32) (i32.const 0)))`);
  assert.throws(() => instrumentModule(bytes, CAP), /__wasmlet_fuel.*reserved/);
});

const CALLS_MODULE = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (type $binop (func (param i32 i32) (result i32)))
  (type $thunk (func (result i32)))
  (table $ops 4 funcref)
  (table $late 1 funcref)
  (elem (i32.const 0) $add $mul)
  (elem (table $ops) (i32.const 2) funcref (ref.func $sub) (ref.func $square_sum))
  (elem declare func $thousand)
  (global $fref funcref (ref.func $thousand))
  (global $started (mut i32) (i32.const 0))
  (start $init)
  (func $init (global.set $started (i32.const 7)))
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (func $square_sum (export "square_sum") (type $binop)
    (call $add (call $mul (local.get 0) (local.get 0)) (call $mul (local.get 1) (local.get 1))))
  (func $thousand (type $thunk) (i32.const 1000))
  (func $apply (param i32 i32 i32) (result i32)
    (call_indirect $ops (type $binop) (local.get 1) (local.get 2) (local.get 0)))
  (func $tail (param i32 i32) (result i32) (return_call $square_sum (local.get 0) (local.get 1)))
  (func $boom (export "boom") unreachable)
  (func (export "_start"))
  (func (export "compute") (param $a i32) (param $b i32) (result i32)
    (table.set $late (i32.const 0) (global.get $fref))
    (i32.add (global.get $started)
    (i32.add (call $apply (i32.const 0) (local.get $a) (local.get $b))
    (i32.add (i32.mul (i32.const 10) (call $apply (i32.const 1) (local.get $a) (local.get $b)))
    (i32.add (i32.mul (i32.const 100) (call $apply (i32.const 2) (local.get $a) (local.get $b)))
    (i32.add (i32.mul (i32.const 1000) (call $apply (i32.const 3) (local.get $a) (local.get $b)))
    (i32.add (call $tail (local.get $b) (local.get $a))
      (call_indirect $late (type $thunk) (i32.const 0))))))))))`;

test("calls, call_indirect, element segments, start and exports still reach the same functions", async () => {
  const original = await wat(CALLS_MODULE);
  const out = instrumentModule(original, CAP);
  const imports = { wasi_snapshot_preview1: { proc_exit: () => {}, fd_write: () => 0 } };
  const before = instantiate(original, undefined, imports).exports;
  const after = instantiate(out.bytes, undefined, imports).exports;
  for (const [a, b] of [
    [3, 4],
    [10, -2],
    [0, 0],
  ]) {
    assert.equal((after.compute as Fn)(a, b), (before.compute as Fn)(a, b), `compute(${a}, ${b})`);
    assert.equal((after.square_sum as Fn)(a, b), a * a + b * b);
  }
  assert.equal((after.compute as Fn)(1, 1), 7 + 2 + 10 + 0 + 2000 + 2 + 1000);
  assert.throws(
    () => (after.boom as Fn)(),
    (e: Error) => e instanceof WebAssembly.RuntimeError && /at boom \(/.test(e.stack ?? ""),
    "the name section still names the trapping function",
  );
});

test("custom sections other than name are kept byte for byte", async () => {
  const module = await wat(`(module (memory (export "memory") 1) (func (export "_start")))`);
  const payload = [0xca, 0xfe, 0x00, 0x42];
  const custom = [0, 1 + 4 + payload.length, 4, ...new TextEncoder().encode("meta"), ...payload];
  const out = instrumentModule(new Uint8Array([...module, ...custom]), CAP);
  const sections = WebAssembly.Module.customSections(
    new WebAssembly.Module(out.bytes as BufferSource),
    "meta",
  );
  assert.deepEqual(
    sections.map((s) => [...new Uint8Array(s)]),
    [payload],
  );
});
