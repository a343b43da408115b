import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse } from "@bytecodealliance/jco-transpile/wasm-tools";
import { isWasmletError } from "../core/index.js";
import { capMemories, exportMutableGlobals, inspectComponent, inspectModule, isComponent } from "./index.js";
import { wat } from "./test-support.js";

const root = (p: string) => new Uint8Array(readFileSync(new URL(`../../../${p}`, import.meta.url)));

test("the example components are recognized by their world, and a core module is not a component", () => {
  const http = root("examples/http-hello/hello.wasm");
  const cli = root("examples/cli-hello/hello.wasm");
  assert.equal(isComponent(http), true);
  assert.equal(isComponent(root("examples/hello/hello.wasm")), false);
  const h = inspectComponent(http);
  assert.equal(h.world, "wasi:http/proxy");
  assert.ok(h.exports.includes("wasi:http/incoming-handler@0.2.12"), h.exports.join());
  assert.ok(h.imports.includes("wasi:http/outgoing-handler@0.2.12"), h.imports.join());
  assert.equal(inspectComponent(cli).world, "wasi:cli/command");
  assert.equal(inspectModule(cli).component?.world, "wasi:cli/command");
});

const REJECTED: { name: string; wat: string; message: RegExp }[] = [
  {
    name: "an import the host does not provide, and no world",
    wat: `(component (import "wasi:sockets/tcp@0.2.0" (instance)))`,
    message:
      /component exports nothing; .*; component imports wasi:sockets\/tcp@0\.2\.0; available: wasi:cli, wasi:clocks/,
  },
  {
    name: "an interface of another WASI version",
    wat: `(component (import "wasi:cli/stdout@0.3.0" (instance)))`,
    message: /component imports wasi:cli\/stdout@0\.3\.0;/,
  },
];

test("every 0.2.x version of an interface is accepted, 0.2.0 included", async () => {
  for (const v of ["0.2.0", "0.2.3", "0.2.12"]) {
    const bytes = await parse(`(component (import "wasi:cli/stdout@${v}" (instance)))`);
    assert.throws(
      () => inspectComponent(bytes),
      (e: unknown) =>
        /exports nothing/.test((e as Error).message) && !/component imports/.test((e as Error).message),
    );
  }
});

for (const c of REJECTED)
  test(`inspectComponent rejects ${c.name}`, async () => {
    const bytes = await parse(c.wat);
    assert.throws(
      () => inspectComponent(bytes),
      (e: unknown) => isWasmletError(e, "INVALID_MODULE") && c.message.test((e as Error).message),
    );
  });

test("capMemories caps every defined memory and refuses one whose initial size is over the cap", async () => {
  const bytes = await wat(
    `(module (memory (export "m") 2) (func (export "grow") (result i32) (memory.grow (i32.const 10))))`,
  );
  const capped = capMemories(bytes, 4);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(capped as Uint8Array<ArrayBuffer>));
  assert.equal((inst.exports.grow as () => number)(), -1, "growing past 4 pages fails");
  assert.throws(() => capMemories(bytes, 1), /needs .* MiB of memory at start \(2 pages\)/);
});

test("exportMutableGlobals exports the mutable globals a module defines, and only those", async () => {
  const bytes = await wat(`(module
    (global $c i32 (i32.const 1)) (global $m (mut i32) (i32.const 7)) (global $n (mut i64) (i64.const 9))
    (func (export "bump") (global.set $m (i32.add (global.get $m) (i32.const 1)))))`);
  const { bytes: out, names } = exportMutableGlobals(bytes);
  assert.deepEqual(names, ["__wasmlet_cg1", "__wasmlet_cg2"]);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(out as Uint8Array<ArrayBuffer>));
  (inst.exports.bump as () => void)();
  assert.equal((inst.exports.__wasmlet_cg1 as WebAssembly.Global).value, 8);
  assert.equal((inst.exports.__wasmlet_cg2 as WebAssembly.Global).value, 9n);
  const none = await wat(`(module (func (export "f")))`);
  assert.equal(exportMutableGlobals(none).bytes, none);
});
