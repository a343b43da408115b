// The one suite every Builder passes (called from builders.test.ts for assemblyscript, c and rust).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { EMPTY_MODULE, type LanguageSamples, sourceTree } from "./test-support.js";
import { runCommand } from "./test-support.js";
import type { Builder, BuilderOptions } from "./types.js";

export interface ContractOptions {
  /** The toolchain must be present (assemblyscript, an npm dependency); others skip when detect() says absent. */
  required: boolean;
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp | string): Promise<Error> {
  const err = await p.then(
    () => assert.fail(`expected ${code}, the build succeeded`),
    (e: unknown) => e,
  );
  assert.ok(isWasmletError(err), `expected a WasmletError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (typeof pattern === "string")
    assert.ok(err.message.includes(pattern), `message lacks "${pattern}": ${err.message}`);
  else assert.match(err.message, pattern);
  return err;
}

/**
 * Registers the contract suite for one builder. `create` makes a builder with the given options (a scratch
 * tmpDir, or a bogus compiler path to play a missing toolchain).
 */
export async function runBuilderContract(
  create: (options?: BuilderOptions) => Builder,
  samples: LanguageSamples,
  opts: ContractOptions,
): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), "wasmlet-contract-"));
  const builder = create({ tmpDir: tmp });
  const detected = await builder.detect();
  const skip = detected.ok || opts.required ? false : `${detected.missing} is missing (${detected.install})`;
  const leftovers = () => readdir(tmp);

  describe(`builder contract: ${builder.name}`, { skip }, () => {
    after(() => rm(tmp, { recursive: true, force: true }));

    test("detect() finds the toolchain and reports its version", () => {
      assert.ok(detected.ok, detected.ok ? "" : `${detected.missing}: ${detected.install}`);
      assert.ok(detected.version.length > 0);
    });

    test("hello compiles to a WASI command that prints its greeting and arguments", async () => {
      const out = await builder.build({ files: samples.hello });
      assert.equal(out.fileName, "hello.wasm");
      assert.ok(out.durationMs > 0);
      const run = await runCommand(out.module, ["hello.wasm", "big", "world"]);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.equal(run.stdout, `${samples.greeting} big world\n`);
      assert.deepEqual(await leftovers(), [], "the build dir must be removed");
    });

    test("a compile error fails with BUILD_FAILED carrying the compiler's message", async () => {
      await rejectsWith(
        builder.build({ files: samples.broken }),
        "BUILD_FAILED",
        "undeclared_wasmlet_identifier",
      );
      assert.deepEqual(await leftovers(), [], "the build dir must be removed after a failure too");
    });

    test("a user build command reaches the toolchain through the env and leaves out.wasm", async () => {
      const out = await builder.build({ files: samples.hello, buildCommand: samples.buildCommand });
      const run = await runCommand(out.module, ["x", "again"]);
      assert.equal(run.stdout, `${samples.greeting} again\n`);
    });

    test("a failing build command's own output is the error", async () => {
      const buildCommand = "echo oops-from-the-makefile >&2; exit 3";
      await rejectsWith(
        builder.build({ files: samples.hello, buildCommand }),
        "BUILD_FAILED",
        "oops-from-the-makefile",
      );
    });

    test("a build command that leaves no out.wasm fails, naming the path", async () => {
      await rejectsWith(
        builder.build({ files: samples.hello, buildCommand: "true" }),
        "BUILD_FAILED",
        /out\.wasm/,
      );
    });

    test("a module without _start is refused as a library", async () => {
      const files = new Map([...samples.hello, ...sourceTree({ "lib.wasm": EMPTY_MODULE })]);
      const buildCommand = 'cp lib.wasm "$BUILD_OUTPUT"';
      await rejectsWith(
        builder.build({ files, buildCommand }),
        "BUILD_FAILED",
        "without _start: is it a library?",
      );
    });

    test("the time limit kills the build fast and says so", async () => {
      const started = Date.now();
      await rejectsWith(
        builder.build({ files: samples.hello, buildCommand: "sleep 30", timeoutMs: 500 }),
        "BUILD_FAILED",
        /time limit of 500 ms/,
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
      assert.deepEqual(await leftovers(), []);
    });

    test("aborting the signal kills the build", async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 300);
      const started = Date.now();
      const build = builder.build({ files: samples.hello, buildCommand: "sleep 30", signal: ac.signal });
      await rejectsWith(build, "BUILD_FAILED", /cancelled/);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    test("paths that escape the build dir are refused, naming the path", async () => {
      for (const bad of ["../evil.c", "/etc/evil.c", "a/../../evil.c"]) {
        const files = new Map([...samples.hello, [bad, new Uint8Array(1)]]);
        await rejectsWith(builder.build({ files }), "INVALID_ARGUMENT", bad);
      }
    });

    test("a missing toolchain is reported with the exact install command", async () => {
      const missing = create({ tmpDir: tmp, compiler: "/nonexistent/wasmlet-test/compiler" });
      const d = await missing.detect();
      assert.equal(d.ok, false);
      if (d.ok) return;
      assert.match(d.install, /install/);
      const err = await rejectsWith(missing.build({ files: samples.hello }), "BUILD_FAILED", d.install);
      assert.match(err.message, /missing/);
    });
  });
}
