import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { AssemblyScriptBuilder } from "./assemblyscript-builder.js";
import { SAMPLES, sourceTree } from "./test-support.js";
import { runCommand } from "./test-support.js";

const as = new AssemblyScriptBuilder();

test("AssemblyScript: assembly/index.ts is the entry and imports its siblings", async () => {
  const files = sourceTree({
    "package.json": '{ "name": "x" }',
    "assembly/index.ts": 'import { twice } from "./twice";\nconsole.log(twice(21).toString());\n',
    "assembly/twice.ts": "export function twice(x: i32): i32 { return x * 2; }\n",
  });
  const out = await as.build({ files });
  assert.equal(out.fileName, "index.wasm");
  assert.equal((await runCommand(out.module, ["index.wasm"])).stdout, "42\n");
});

test("AssemblyScript: a user asconfig.json's options apply on top of the WASI shim", async () => {
  const plain = await as.build({ files: SAMPLES.assemblyscript.hello });
  // the stub runtime (never frees) has no GC, so the same program is clearly smaller
  const asconfig = JSON.stringify({
    extends: "./node_modules/@assemblyscript/wasi-shim/asconfig.json",
    options: { runtime: "stub", exportStart: "main" },
  });
  const files = new Map([...SAMPLES.assemblyscript.hello, ...sourceTree({ "asconfig.json": asconfig })]);
  const stub = await as.build({ files });
  assert.ok(stub.module.length < plain.module.length, `${stub.module.length} >= ${plain.module.length}`);
  const run = await runCommand(stub.module, ["hello.wasm"]);
  assert.equal(run.stdout, `${SAMPLES.assemblyscript.greeting}\n`);
});

test("AssemblyScript: an asconfig.json that is not JSON fails, naming the file", async () => {
  const files = new Map([...SAMPLES.assemblyscript.hello, ...sourceTree({ "asconfig.json": "{ nope" })]);
  await assert.rejects(
    as.build({ files }),
    (e) => isWasmletError(e, "BUILD_FAILED") && /asconfig\.json/.test(e.message),
  );
});

test("AssemblyScript: several .ts files and no index.ts: the error says how to name the entry", async () => {
  const files = sourceTree({ "a.ts": "console.log('a');\n", "b.ts": "console.log('b');\n", "c.d.ts": "" });
  await assert.rejects(
    as.build({ files }),
    (e) => isWasmletError(e, "BUILD_FAILED") && /index\.ts/.test(e.message),
  );
});
