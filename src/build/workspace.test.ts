import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { builderForFile } from "./index.js";
import { sourceTree } from "./test-support.js";
import { checkSourcePath, createWorkspace, moduleFileName } from "./workspace.js";

test("source paths are normalised; those that could escape the build dir are refused", () => {
  const ok: [string, string][] = [
    ["hello.c", "hello.c"],
    ["./src/main.rs", "src/main.rs"],
    ["a//b/./c.ts", "a/b/c.ts"],
    ["..hidden.c", "..hidden.c"],
  ];
  for (const [input, want] of ok) assert.equal(checkSourcePath(input), want, input);
  for (const bad of ["", "/etc/passwd", "../x.c", "a/../../x.c", "a\\..\\x.c", "C:\\x.c", ".", "a\0b"]) {
    assert.throws(
      () => checkSourcePath(bad),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && e.message.includes("files:"),
      JSON.stringify(bad),
    );
  }
});

test("a tree where a file is also a directory is refused, and nothing is left behind", async () => {
  const files = sourceTree({ a: "x", "a/b.c": "y" });
  await assert.rejects(createWorkspace(files), (e) => isWasmletError(e, "INVALID_ARGUMENT"));
});

test("modules are named after their entry, in characters safe in an image path", () => {
  const cases: [string | undefined, string][] = [
    ["hello.c", "hello.wasm"],
    ["src/main.rs", "main.wasm"],
    ["greeter-app.rs", "greeter-app.wasm"],
    ["My Func!.ts", "my-func.wasm"],
    [undefined, "main.wasm"],
    ["...", "main.wasm"],
  ];
  for (const [entry, want] of cases) assert.equal(moduleFileName(entry), want, String(entry));
});

test("builderForFile picks the toolchain by extension", () => {
  const cases: [string, string | undefined][] = [
    ["hello.c", "c"],
    ["HELLO.C", "c"],
    ["main.rs", "rust"],
    ["index.ts", "assemblyscript"],
    ["types.d.ts", undefined],
    ["hello.wasm", undefined],
    ["Makefile", undefined],
  ];
  for (const [file, want] of cases) assert.equal(builderForFile(file)?.name, want, file);
});
