import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { inspectModule } from "./index.js";
import { readFixture, wat } from "./test-support.js";

test("a clang-built WASI command is accepted and described", () => {
  const info = inspectModule(readFixture("hello.wasm"));
  assert.ok(info.imports.length > 0);
  for (const i of info.imports) assert.deepEqual([i.module, i.kind], ["wasi_snapshot_preview1", "function"]);
  assert.ok(info.imports.some((i) => i.name === "fd_write"));
  assert.deepEqual(info.exports.map((e) => `${e.kind} ${e.name}`).sort(), [
    "function _start",
    "memory memory",
  ]);
  assert.ok(info.memory.initialPages >= 1);
  assert.equal(info.memory.maxPages, undefined);
  assert.equal(info.mutableGlobals, 1, "the stack pointer");
  assert.equal(info.hasStartSection, false);
  assert.equal(info.resettable, true);
  assert.deepEqual(info.resetBlockers, []);
});

const COMMAND = `(memory (export "memory") 1) (func (export "_start"))`;
const pseudoRandom = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761 + 17) >>> 24);

const REJECTED: { name: string; bytes: () => Promise<Uint8Array>; message: RegExp }[] = [
  { name: "random bytes", bytes: async () => pseudoRandom, message: /^not a WebAssembly module: .*magic/ },
  { name: "a text file", bytes: async () => readFixture("hello.c"), message: /^not a WebAssembly module/ },
  { name: "an empty file", bytes: async () => new Uint8Array(0), message: /^not a WebAssembly module/ },
  {
    name: "the right magic followed by garbage",
    bytes: async () => new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x42, 0x13, 0x37]),
    message: /^not a WebAssembly module: the binary is invalid \(.+\)/,
  },
  {
    name: "a component",
    bytes: async () => new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]),
    message: /components are not supported yet/,
  },
  {
    name: "a module importing env.foo",
    bytes: () => wat(`(module (import "env" "foo" (func)) ${COMMAND})`),
    message:
      /^module imports "env"\."foo" \(function\); only wasi_snapshot_preview1 functions are available$/,
  },
  {
    name: "a module importing a memory",
    bytes: () => wat(`(module (import "wasi_snapshot_preview1" "mem" (memory 1)) (func (export "_start")))`),
    message: /imports "wasi_snapshot_preview1"\."mem" \(memory\);.*does not export a memory "memory"/,
  },
  {
    name: "a module with seven foreign imports",
    bytes: () =>
      wat(`(module ${[1, 2, 3, 4, 5, 6, 7].map((i) => `(import "m${i}" "f" (func))`).join(" ")} ${COMMAND})`),
    message: /"m1"\."f" \(function\), "m2".*"m5"\."f" \(function\) and 2 more; only/,
  },
  {
    name: "a module without _start",
    bytes: () => wat(`(module (memory (export "memory") 1) (func (export "main")))`),
    message: /^module does not export a function "_start"/,
  },
  {
    name: "a module without an exported memory",
    bytes: () => wat(`(module (memory 1) (func (export "_start")))`),
    message: /^module does not export a memory "memory"/,
  },
  {
    name: "a module exporting _start as a global",
    bytes: () => wat(`(module (memory (export "memory") 1) (global (export "_start") i32 (i32.const 0)))`),
    message: /^module exports "_start" as a global, not a function$/,
  },
];

for (const { name, bytes, message } of REJECTED) {
  test(`inspect rejects ${name}`, async () => {
    const input = await bytes();
    assert.throws(
      () => inspectModule(input),
      (e) => isWasmletError(e, "INVALID_MODULE") && message.test(e.message),
    );
  });
}

test("a start section and a declared maximum are reported", async () => {
  const info = inspectModule(
    await wat(`(module (memory (export "memory") 2 40) (global (mut i32) (i32.const 0)) (global i32 (i32.const 1))
      (func $init) (start $init) (func (export "_start")))`),
  );
  assert.deepEqual(info.memory, { initialPages: 2, maxPages: 40 });
  assert.equal(info.hasStartSection, true);
  assert.equal(info.mutableGlobals, 1);
});

test("a module that mutates its exported table is not resettable, and says why", async () => {
  const info = inspectModule(
    await wat(`(module ${COMMAND} (table (export "tbl") 1 funcref) (func $f)
      (elem declare func $f) (func (export "set") (table.set (i32.const 0) (ref.func $f))))`),
  );
  assert.equal(info.resettable, false);
  assert.deepEqual(info.resetBlockers, [
    "uses table.set (table contents are not restored by a reset)",
    'exports table "tbl", which the code mutates',
  ]);
});
