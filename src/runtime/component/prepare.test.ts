// The transpiler thread: kept between deploys, one job at a time, a refused component harms no later one.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { WasmletError } from "../../core/index.js";
import { prepareComponent, transpilerThreadsStarted } from "./prepare.js";

const root = (p: string) => new Uint8Array(readFileSync(new URL(`../../../../${p}`, import.meta.url)));

test("deploys in a row and at once share one transpiler thread; a refused component does not stop the next", async () => {
  const hello = root("test/fixtures/components/http-hello.wasm");
  const cmd = root("test/fixtures/components/sleep.cmd.wasm");
  const before = transpilerThreadsStarted();
  const first = await prepareComponent(hello, 32);
  assert.ok(first.js.length > 0 && Object.keys(first.modules).length > 0);
  const together = await Promise.all([prepareComponent(cmd, 32), prepareComponent(hello, 32)]);
  for (const p of together) assert.ok(p.js.includes("incoming-handler") || p.js.includes("run"));
  assert.equal(transpilerThreadsStarted() - before, 1, "one thread served three deploys");

  // A component header followed by garbage: jco refuses it, the error names the cause.
  const broken = new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 0xff, 0xff, 0xff]);
  await assert.rejects(
    prepareComponent(broken, 32),
    (e: unknown) =>
      e instanceof WasmletError && e.code === "INVALID_MODULE" && /cannot be prepared/.test(e.message),
  );
  const after = await prepareComponent(hello, 32);
  assert.equal(Object.keys(after.modules).length, Object.keys(first.modules).length);
});
