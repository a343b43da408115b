import assert from "node:assert/strict";
import { test } from "node:test";
import { customSection } from "../core/test-support.js";
import { compileCapped, lazyHolders } from "./compile.js";
import { StreamingCompile } from "./compile-stream.js";
import { wat } from "./test-support.js";

const GROWER = `(module
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`;

/** Streams `bytes` into a StreamingCompile in pieces of 1..`most` bytes, with a turn of the event loop between some. */
async function stream(bytes: Uint8Array, pages: number, most = 7): Promise<WebAssembly.Module | undefined> {
  const c = new StreamingCompile(pages);
  let end = 0;
  for (let i = 0; end < bytes.length; i++) {
    end = Math.min(bytes.length, end + 1 + ((i * 5) % most));
    c.advance(bytes, end);
    if (i % 3 === 0) await new Promise((r) => setImmediate(r));
  }
  c.finish(bytes, bytes.length);
  return (await c.result)?.module;
}

function exports(m: WebAssembly.Module) {
  return new WebAssembly.Instance(m).exports as {
    grow(n: number): number;
    add(a: number, b: number): number;
  };
}

test("a module compiled as its bytes arrive, in pieces of any size, runs with its memory capped", async () => {
  const bytes = await wat(GROWER);
  for (const most of [1, 7, 64, bytes.length]) {
    const m = await stream(bytes, 3, most);
    assert.ok(m, `pieces of up to ${most} bytes`);
    const e = exports(m);
    assert.equal(e.add(2, 40), 42);
    assert.equal(e.grow(2), 1, "grows to the cap");
    assert.equal(e.grow(1), -1, "not past it");
    assert.deepEqual(
      WebAssembly.Module.exports(m),
      WebAssembly.Module.exports(compileCapped(bytes, 3).module),
    );
  }
});

test("modules alike up to their code section, different after it, each compile to what they are", async () => {
  // V8 keeps modules by the hash of their bytes before the code section (see uniqueSection).
  const base = await wat(GROWER);
  const [a, b] = ["a", "b"].map(
    (tag) => new Uint8Array(Buffer.concat([base, customSection(tag, new Uint8Array(8))])),
  );
  const ma = await stream(a, 2, 1024);
  const mb = await stream(b, 2, 1024);
  assert.ok(ma && mb);
  assert.equal(WebAssembly.Module.customSections(ma, "a").length, 1);
  assert.equal(WebAssembly.Module.customSections(mb, "b").length, 1);
  assert.equal(WebAssembly.Module.customSections(mb, "a").length, 0);
});

test("bytes that are not a core module, or do not validate, or need more memory than the cap, give no module", async () => {
  const good = await wat(GROWER);
  const component = new Uint8Array(good);
  component.set([0x0d, 0x00, 0x01, 0x00], 4);
  // A function that returns nothing where its type says i32 (wat leaves validation to V8).
  const invalid = await wat(`(module (func (export "f") (result i32) nop))`);
  const cases: [string, Uint8Array, number][] = [
    ["a component", component, 4],
    ["garbage", new TextEncoder().encode("not wasm at all, just text"), 4],
    ["cut short", good.subarray(0, good.length - 5), 4],
    ["over the cap", good, 0],
    ["invalid", invalid, 4],
  ];
  for (const [what, bytes, pages] of cases) assert.equal(await stream(bytes, pages), undefined, what);
});

test("an abandoned compile gives no module and takes no more bytes", async () => {
  const bytes = await wat(GROWER);
  const c = new StreamingCompile(4);
  c.advance(bytes, 12);
  c.abandon();
  c.advance(bytes, bytes.length);
  c.finish(bytes, bytes.length);
  assert.equal(await c.result, undefined);
});

test("only the code section's header is handed to V8 with the lazy flag on, even when the module comes in one piece", async () => {
  // The flag is the process's: a chunk pushed with it on makes another thread's compile meanwhile lazy too.
  const bytes = new Uint8Array(
    Buffer.concat([await wat(GROWER), customSection("pad", new Uint8Array(256 * 1024))]),
  );
  const real = WebAssembly.compileStreaming;
  const seen: { length: number; first: number; holders: number }[] = [];
  WebAssembly.compileStreaming = async (source) => {
    const reader = ((await source) as Response).body?.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const r = await reader?.read();
      if (!r || r.done) break;
      seen.push({ length: r.value.length, first: r.value[0], holders: lazyHolders() });
      parts.push(r.value);
    }
    return real(new Response(Buffer.concat(parts), { headers: { "content-type": "application/wasm" } }));
  };
  try {
    const c = new StreamingCompile(2);
    c.finish(bytes, bytes.length);
    const compiled = await c.result;
    assert.ok(compiled);
    assert.equal(exports(compiled.module).add(1, 2), 3);
  } finally {
    WebAssembly.compileStreaming = real;
  }
  const lazy = seen.filter((s) => s.holders > 0);
  assert.equal(lazy.length, 1, `chunks handed over with the flag on: ${JSON.stringify(seen)}`);
  assert.equal(lazy[0].first, 10, "the code section's id");
  assert.ok(lazy[0].length <= 11, `${lazy[0].length} bytes`);
  assert.ok(seen.reduce((n, s) => n + s.length, 0) > bytes.length, "all of it handed over (and the nonce)");
  assert.equal(lazyHolders(), 0);
});
