import assert from "node:assert/strict";
import { test } from "node:test";
import { customSection } from "../core/test-support.js";
import { compileCapped, lazyHolders } from "./compile.js";
import { StreamingCompile } from "./compile-stream.js";
import { parseModule, SECTION } from "./module.js";
import { manyFunctions, wat } from "./test-support.js";

const GROWER = `(module
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`;

/** Hands `bytes` to `c` in pieces of 1..`most` bytes, as an upload brings them, with a turn of the event loop between some. */
async function arrive(c: StreamingCompile, bytes: Uint8Array, most: number): Promise<void> {
  let end = 0;
  for (let i = 0; end < bytes.length; i++) {
    end = Math.min(bytes.length, end + 1 + ((i * 5) % most));
    c.advance(bytes, end);
    if (i % 3 === 0) await new Promise((r) => setImmediate(r));
  }
  c.finish(bytes, bytes.length);
}

/** Streams `bytes` into a StreamingCompile (see arrive). */
async function stream(bytes: Uint8Array, pages: number, most = 7): Promise<WebAssembly.Module | undefined> {
  const c = new StreamingCompile(pages);
  await arrive(c, bytes, most);
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

test("a module with an invalid function anywhere in its code gives no module, however its bytes arrive", async () => {
  // V8 reads its lazy flag for each function body it reads; one read with the flag off was not validated, and
  // such a module compiled (its invalid function failing only when a run reached it).
  const bytes = await manyFunctions(300, 200);
  assert.throws(() => new WebAssembly.Module(bytes as BufferSource), /Compiling function #201 failed/);
  for (const most of [512, 4096, bytes.length]) {
    const m = await stream(bytes, 2, most);
    assert.ok(m === undefined, `pieces of up to ${most} bytes: a module came back`);
  }
  const whole = new StreamingCompile(2);
  whole.finish(bytes, bytes.length);
  assert.ok((await whole.result) === undefined, "all there at once: a module came back");
  const compiled = await stream(await manyFunctions(300, -1), 2, 512);
  assert.ok(compiled);
  assert.equal(exports(compiled).add(40, 2), 42);
  assert.equal(lazyHolders(), 0);
});

test("a compile whose chunks V8 took after their window checks the whole module instead", async () => {
  // Node's compileStreaming pushes each chunk as it gets it; a consumer that pushed the code section's later
  // chunks a turn late (the flag off by then, its first chunk read with it on) must not make an invalid module
  // compile.
  const real = WebAssembly.compileStreaming;
  WebAssembly.compileStreaming = async (source) => {
    const reader = ((await source) as Response).body?.getReader();
    let inCode = false;
    const late = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        const r = await reader?.read();
        if (inCode) for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
        if (!r || r.done) return ctl.close();
        inCode ||= r.value[0] === 10;
        ctl.enqueue(r.value);
      },
    });
    return real(new Response(late, { headers: { "content-type": "application/wasm" } }));
  };
  try {
    const invalid = await stream(await manyFunctions(300, 200), 2, 4096);
    assert.ok(invalid === undefined, "the invalid module came back compiled");
    assert.ok(await stream(await manyFunctions(300, -1), 2, 4096), "the valid one");
  } finally {
    WebAssembly.compileStreaming = real;
  }
  assert.equal(lazyHolders(), 0);
});

test("every chunk of the code section, and only those, is handed to V8 with the lazy flag on", async () => {
  // The flag is the process's: a chunk pushed with it on makes another thread's compile meanwhile lazy too.
  const bytes = await manyFunctions(50, -1, 256 * 1024);
  const section = parseModule(bytes).sections.find((x) => x.id === SECTION.code);
  assert.ok(section);
  const code = bytes.subarray(section.headerStart, section.end);
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
    for (const piece of [bytes.length, 1000]) {
      seen.length = 0;
      let compiled: WebAssembly.Module | undefined;
      if (piece === bytes.length) {
        const c = new StreamingCompile(2);
        c.finish(bytes, bytes.length);
        compiled = (await c.result)?.module;
      } else compiled = await stream(bytes, 2, piece);
      assert.ok(compiled);
      assert.equal(exports(compiled).add(1, 2), 3);
      const lazy = seen.filter((s) => s.holders > 0);
      assert.equal(lazy[0].first, 10, "the first starts with the code section's id");
      assert.equal(
        lazy.reduce((n, s) => n + s.length, 0),
        code.length,
        `pieces of up to ${piece}: the flag on for the code section's bytes, no more, no fewer (${JSON.stringify(seen)})`,
      );
      if (piece === bytes.length) assert.equal(lazy.length, 1, "all there: one chunk");
      else assert.ok(lazy.length > 1, `${lazy.length} chunks`);
      assert.ok(
        seen.reduce((n, s) => n + s.length, 0) > bytes.length,
        "all of it handed over (and the nonce)",
      );
    }
  } finally {
    WebAssembly.compileStreaming = real;
  }
  assert.equal(lazyHolders(), 0);
});
