import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { inspectModule, WASI_PREVIEW1 } from "./index.js";
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

test("without the reset analysis a module is described the same, but not called resettable", () => {
  const bytes = readFixture("hello.wasm");
  const { resettable, resetBlockers, ...rest } = inspectModule(bytes, { resetBlockers: false });
  const full = inspectModule(bytes);
  assert.deepEqual(rest.exports, full.exports);
  assert.deepEqual(rest.imports, full.imports);
  assert.deepEqual(rest.memory, full.memory);
  assert.equal(resettable, false);
  assert.deepEqual(resetBlockers, ["its code was not analysed"]);
  assert.throws(
    () => inspectModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 99]), { resetBlockers: false }),
    (e) => isWasmletError(e, "INVALID_MODULE"),
  );
});

test("every preview1 function wasi-libc declares, imported with wasi-libc's own signatures, is accepted", () => {
  // wasi-all.c calls each function of wasi/api.h: the signatures clang emits are an independent lowering of
  // the witx. wasi-libc no longer declares proc_raise, the only function of the table it lacks.
  const info = inspectModule(readFixture("wasi-all.wasm"));
  assert.deepEqual(
    info.imports.map((i) => i.name).sort(),
    Object.keys(WASI_PREVIEW1)
      .filter((n) => n !== "proc_raise")
      .sort(),
  );
});

const COMMAND = `(memory (export "memory") 1) (func (export "_start"))`;
const wasiImport = (name: string, sig: string) => `(import "wasi_snapshot_preview1" "${name}" (func ${sig}))`;
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
    name: "a component of no world Wasmlet serves",
    bytes: async () => new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]),
    message:
      /^component exports nothing; it must export exactly one of wasi:http\/incoming-handler or wasi:cli\/run/,
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
    name: "an import preview1 does not define",
    bytes: () => wat(`(module ${wasiImport("fd_wrte", "(param i32 i32 i32 i32) (result i32)")} ${COMMAND})`),
    message:
      /^module imports wasi_snapshot_preview1 function "fd_wrte", which WASI preview1 does not define$/,
  },
  {
    name: "two imports preview1 does not define",
    bytes: () => wat(`(module ${wasiImport("sock_open", "")} ${wasiImport("fd_write2", "")} ${COMMAND})`),
    message: /^module imports wasi_snapshot_preview1 functions "sock_open", "fd_write2", which WASI/,
  },
  {
    name: "fd_write declared as (i32) -> i32",
    bytes: () => wat(`(module ${wasiImport("fd_write", "(param i32) (result i32)")} ${COMMAND})`),
    message:
      /^module imports wasi_snapshot_preview1 "fd_write" as \(i32\) -> i32, but WASI preview1 defines it as \(i32, i32, i32, i32\) -> i32$/,
  },
  {
    name: "clock_time_get taking an i32 where preview1 has an i64",
    bytes: () =>
      wat(`(module ${wasiImport("clock_time_get", "(param i32 i32 i32) (result i32)")} ${COMMAND})`),
    message:
      /"clock_time_get" as \(i32, i32, i32\) -> i32, but WASI preview1 defines it as \(i32, i64, i32\) -> i32$/,
  },
  {
    name: "proc_exit declared with a result",
    bytes: () => wat(`(module ${wasiImport("proc_exit", "(param i32) (result i32)")} ${COMMAND})`),
    message: /"proc_exit" as \(i32\) -> i32, but WASI preview1 defines it as \(i32\) -> \(\)$/,
  },
  {
    name: "an export named like the fuel counter the instrumentation adds",
    bytes: () => wat(`(module ${COMMAND} (global (export "__wasmlet_fuel") (mut i32) (i32.const 0)))`),
    message: /^module exports "__wasmlet_fuel"; names starting with __wasmlet_ are reserved for the runtime$/,
  },
  {
    name: "exports named like the memory and global exports the instrumentation adds",
    bytes: () =>
      wat(`(module (memory $m 1) (export "memory" (memory $m)) (export "__wasmlet_memory" (memory $m))
        (func (export "_start")) (func (export "__wasmlet_global_0")))`),
    message: /^module exports "__wasmlet_memory", "__wasmlet_global_0"; names starting with __wasmlet_/,
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
