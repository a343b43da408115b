import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { instrumentModule } from "./index.js";
import { rewriteModule } from "./instrument.js";
import { parseModule } from "./module.js";
import { instantiate, wasmText, wat } from "./test-support.js";

/**
 * One module per instruction family; each `run` export computes a value through that family (with loops
 * where it makes sense, so fuel checks land in the middle of it). Instrumented and original must agree.
 */
const FAMILIES: { name: string; module: string; blockers: string[]; memory?: string }[] = [
  {
    name: "MVP integers and sign extension",
    blockers: [],
    module: `(func (export "run") (result i32) (local $i i32) (local $acc i32)
      (loop $l
        (local.set $acc (i32.add (local.get $acc) (i32.extend8_s (i32.add (local.get $i) (i32.const 120)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 20))))
      (i32.add (local.get $acc) (i32.wrap_i64 (i64.extend32_s (i64.const 0x7fffffff)))))`,
  },
  {
    name: "br_table, floats and memory access with offset and alignment",
    blockers: [],
    module: `(func (export "run") (result f64) (local $i i32) (local $acc f64)
      (loop $l
        (block $c (block $b (block $a (br_table $a $b $c (i32.rem_u (local.get $i) (i32.const 3))))
            (local.set $acc (f64.add (local.get $acc) (f64.const 1.5))) (br $c))
          (local.set $acc (f64.mul (local.get $acc) (f64.const 1.25))))
        (f32.store offset=8 align=2 (i32.const 0) (f32.const 2.5))
        (local.set $acc (f64.add (local.get $acc) (f64.promote_f32 (f32.load offset=8 (i32.const 0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 30))))
      (local.get $acc))`,
  },
  {
    name: "non-trapping float-to-int",
    blockers: [],
    module: `(func (export "run") (result i64)
      (i64.add (i64.trunc_sat_f64_s (f64.const 1e30)) (i64.extend_i32_s (i32.trunc_sat_f32_u (f32.const -5)))))`,
  },
  {
    name: "bulk memory with a passive data segment",
    blockers: ["memory.init", "data.drop"],
    module: `(data $d "hello, bulk")
      (func (export "run") (result i32)
        (memory.init $d (i32.const 100) (i32.const 0) (i32.const 11))
        (data.drop $d)
        (memory.copy (i32.const 200) (i32.const 100) (i32.const 11))
        (memory.fill (i32.const 100) (i32.const 0) (i32.const 11))
        (i32.add (i32.load8_u (i32.const 207)) (i32.load8_u (i32.const 100))))`,
  },
  {
    name: "SIMD: memarg, lanes, v128.const, shuffle",
    blockers: [],
    module: `(func (export "run") (result i32) (local $v v128) (local $i i32)
      (v128.store (i32.const 16) (v128.const i32x4 1 2 3 4))
      (loop $l
        (local.set $v (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11
          (v128.load offset=0 (i32.const 16)) (local.get $v)))
        (local.set $v (v128.load8_lane 1 (i32.const 17) (local.get $v)))
        (local.set $v (i32x4.add (local.get $v) (v128.load32_zero (i32.const 20))))
        (local.set $v (i8x16.swizzle (local.get $v) (v128.const i8x16 3 2 1 0 7 6 5 4 11 10 9 8 15 14 13 12)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
      (i32.add (i32x4.extract_lane 0 (local.get $v))
        (i32.add (i8x16.extract_lane_u 5 (local.get $v))
          (i32x4.extract_lane 1 (i32x4.dot_i16x8_s (local.get $v) (i32x4.splat (i32.const 3)))))))`,
  },
  {
    name: "threads: atomics on a shared memory",
    blockers: [],
    memory: "1 1 shared",
    module: `(func (export "run") (result i32) (local $i i32)
      (atomic.fence)
      (i32.atomic.store (i32.const 8) (i32.const 5))
      (loop $l
        (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 3)))
        (drop (i64.atomic.rmw32.cmpxchg_u offset=16 (i32.const 0) (i64.const 0) (i64.const 9)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
      (drop (memory.atomic.notify (i32.const 8) (i32.const 0)))
      (i32.add (i32.atomic.load (i32.const 8)) (i32.wrap_i64 (i64.atomic.load offset=16 (i32.const 0)))))`,
  },
  {
    name: "multi-value blocks and loops typed by a type index",
    blockers: [],
    module: `(type $pair (func (param i32 i32) (result i32 i32)))
      (func $swap (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
      (func (export "run") (result i32)
        (i32.const 3) (i32.const 40)
        (block $b (type $pair) (call $swap))
        (loop $l (type $pair) (call $swap))
        (i32.sub))`,
  },
  {
    name: "exception handling: try, catch, throw, rethrow, delegate, catch_all",
    blockers: [],
    module: `(tag $e (param i32))
      (func $thrower (param i32) (throw $e (local.get 0)))
      (func (export "run") (result i32) (local $r i32) (local $i i32)
        (try (do (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))
                 (call $thrower (i32.const 5)))
          (catch $e (local.set $r)))
        (try $outer (do (try (do (call $thrower (i32.const 7))) (delegate $outer)))
          (catch $e (local.get $r) (i32.add) (local.set $r)))
        (try (do (try (do (call $thrower (i32.const 100))) (catch $e (drop) (rethrow 0))))
          (catch_all (local.set $r (i32.add (local.get $r) (i32.const 1000)))))
        (i32.add (local.get $r) (local.get $i)))`,
  },
  {
    name: "tail calls: return_call and return_call_indirect",
    blockers: [],
    module: `(type $t (func (param i32 i32) (result i32)))
      (table 1 funcref) (elem (i32.const 0) $sum)
      (func $sum (type $t)
        (if (result i32) (i32.eqz (local.get 0)) (then (local.get 1))
          (else (return_call_indirect (type $t)
            (i32.sub (local.get 0) (i32.const 1)) (i32.add (local.get 1) (local.get 0)) (i32.const 0)))))
      (func (export "run") (result i32) (return_call $sum (i32.const 100000) (i32.const 0)))`,
  },
  {
    name: "reference types and table instructions",
    blockers: ["table.set", "table.grow", "table.fill", "table.copy", "table.init", "elem.drop"],
    module: `(type $r (func (result i32)))
      (table $t 2 funcref)
      (func $one (result i32) (i32.const 1))
      (func $two (result i32) (i32.const 2))
      (elem declare func $one)
      (elem $p func $two)
      (func (export "run") (result i32)
        (drop (table.grow $t (ref.func $one) (i32.const 2)))
        (table.set $t (i32.const 0) (ref.func $one))
        (table.fill $t (i32.const 1) (ref.null func) (i32.const 2))
        (table.init $t $p (i32.const 2) (i32.const 0) (i32.const 1))
        (elem.drop $p)
        (table.copy $t $t (i32.const 3) (i32.const 2) (i32.const 1))
        (i32.add (i32.add (table.size $t) (call_indirect $t (type $r) (i32.const 3)))
          (i32.add (ref.is_null (ref.null extern))
            (select (result i32) (i32.const 10) (i32.const 20) (ref.is_null (table.get $t (i32.const 1)))))))`,
  },
];

for (const { name, module, blockers, memory = "1" } of FAMILIES) {
  test(`instrumented code computes what the original does: ${name}`, async () => {
    const original = await wat(
      `(module (memory (export "memory") ${memory}) (func (export "_start")) ${module})`,
    );
    const out = instrumentModule(original, { maxMemoryPages: 16 });
    const expected = (instantiate(original).exports.run as () => unknown)();
    const instance = instantiate(out.bytes, { refill: 1000, maxCalls: Number.POSITIVE_INFINITY });
    assert.equal((instance.exports.run as () => unknown)(), expected);
    assert.ok(instance.deadlineCalls() >= 1);
    assert.equal(out.info.resettable, blockers.length === 0);
    assert.deepEqual(
      out.info.resetBlockers.map((b) => /uses (\S+)/.exec(b)?.[1]).sort(),
      [...blockers].sort(),
      out.info.resetBlockers.join("; "),
    );
  });
}

test("try_table (new exception handling, not enabled in V8 here) is decoded and instrumented", async () => {
  const original = await wat(`(module (memory (export "memory") 1)
    (tag $e (param i32))
    (func $thrower (param i32) (throw $e (local.get 0)))
    (func $catcher (export "_start") (result i32)
      (block $h (result i32)
        (try_table (catch $e $h) (loop $l (call $thrower (i32.const 42))))
        (i32.const 0))))`);
  const out = rewriteModule(parseModule(original), 16);
  const text = await wasmText(out.bytes); // throws unless wabt validates the output
  assert.match(text, /try_table\s+;; label = @2\s+\(catch \$e/);
  assert.match(text, /call \$thrower/, "the call inside try_table still targets $thrower");
  assert.equal(text.match(/i32\.lt_s/g)?.length, 3, "one check per function entry and one per loop");
});

/** A module with one function whose body is `code` (no locals, `end` appended). */
function moduleWithBody(code: number[]): Uint8Array {
  const body = [0, ...code, 0x0b];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...[1, 4, 1, 0x60, 0, 0],
    ...[3, 2, 1, 0],
    ...[10, body.length + 2, 1, body.length, ...body],
  ]);
}

const UNKNOWN: { code: number[]; opcode: string }[] = [
  { code: [0x27], opcode: "0x27" },
  { code: [0xfb, 0x00], opcode: "0xfb" },
  { code: [0xfc, 0x20], opcode: "0xfc 0x20" },
  { code: [0xfd, 0x9a, 0x01], opcode: "0xfd 0x9a" },
  { code: [0xfe, 0x04], opcode: "0xfe 0x04" },
];

for (const { code, opcode } of UNKNOWN) {
  test(`an unknown opcode ${opcode} is reported with its byte offset`, () => {
    const bytes = moduleWithBody(code);
    assert.throws(
      () => rewriteModule(parseModule(bytes), 16),
      (e) =>
        isWasmletError(e, "INVALID_MODULE") && e.message === `unknown opcode ${opcode} at byte offset 23`,
    );
  });
}
