/** Test support: loads the committed WASI fixtures and runs one invocation the way an executor does. */
import { readFileSync } from "node:fs";
import type { WasiInputs, WasiOutputs } from "../types.js";
import { runFreshInstance } from "./run-fresh.js";
import type { WasiHost } from "./wasi-host.js";

// Tests run from dist/src/runtime/wasi; the fixtures stay in the source tree.
const FIXTURES = new URL("../../../../src/runtime/wasi/fixtures/", import.meta.url);
const modules = new Map<string, WebAssembly.Module>();

export function fixture(name: string): WebAssembly.Module {
  let module = modules.get(name);
  if (module === undefined) {
    module = new WebAssembly.Module(readFileSync(new URL(`${name}.wasm`, FIXTURES)));
    modules.set(name, module);
  }
  return module;
}

export interface TextOutputs extends WasiOutputs {
  out: string;
  err: string;
}

/** Instantiates `name` afresh on `host` and runs `_start` once with `args` (argv[0] included). */
export function runFixture(
  host: WasiHost,
  name: string,
  args: string[],
  more: Partial<WasiInputs> = {},
): TextOutputs {
  const out = runFreshInstance(fixture(name), host, {
    args,
    env: more.env ?? [],
    stdin: more.stdin ?? new Uint8Array(0),
  });
  const text = new TextDecoder();
  return { ...out, out: text.decode(out.stdout), err: text.decode(out.stderr) };
}
