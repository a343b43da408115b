import assert from "node:assert/strict";
import { test } from "node:test";
import { WASI_PREVIEW1 } from "../../wasm/index.js";
import type { WasiImports } from "./imports.js";
import { WasiHost } from "./index.js";

type PreviewName = keyof typeof WASI_PREVIEW1;
/** True only when A and B are the same union: a name on one side only fails the build. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const SAME_NAMES_IN_TYPES: Same<keyof WasiImports, PreviewName> = true;

/** What a guest is given: the object `createImports` builds for the host. */
function hostImports(): Record<string, (...args: never[]) => unknown> {
  return new WasiHost().imports;
}

test("the host's import object has exactly the functions of the preview1 table (what uploads are checked against)", () => {
  assert.ok(SAME_NAMES_IN_TYPES);
  assert.deepEqual(Object.keys(hostImports()).sort(), Object.keys(WASI_PREVIEW1).sort());
});

test("each host function declares the parameters of its preview1 signature (shared stubs declare none)", () => {
  const wrong = Object.entries(hostImports())
    .filter(([name, fn]) => fn.length !== 0 && fn.length !== WASI_PREVIEW1[name as PreviewName].params.length)
    .map(([name, fn]) => `${name}: ${fn.length} vs ${WASI_PREVIEW1[name as PreviewName].params.length}`);
  assert.deepEqual(wrong, []);
});
