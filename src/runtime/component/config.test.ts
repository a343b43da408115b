// What a component gets of its function's secrets and configs: `wasi:config/store` answers (a component written
// in the component text format, test/fixtures/components/config-check.wat) and read-only mounted files.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { parse } from "@bytecodealliance/jco-transpile/wasm-tools";
import { type Digest, sha256Digest } from "../../core/index.js";
import { inspectComponent } from "../../wasm/index.js";
import { HybridExecutor } from "../executor.js";
import type { RunLimits, WasiInputs } from "../types.js";

const root = (p: string) => new URL(`../../../../${p}`, import.meta.url);
const executor = new HybridExecutor({ maxWorkers: 1 });
after(() => executor.close());
const LIMITS: RunLimits = { timeoutMs: 10_000, memoryMiB: 32, maxOutputBytes: 1000 };

async function load(module: Uint8Array, files: [string, Uint8Array][] = []): Promise<Digest> {
  const digest = sha256Digest(module);
  await executor.prepare(
    { digest, entry: "/f.wasm", module, files: new Map([["/f.wasm", module], ...files]) },
    LIMITS,
  );
  return digest;
}

const run = (digest: Digest, inputs: Partial<WasiInputs>) =>
  executor.run(
    digest,
    { args: ["/f.wasm"], env: [], stdin: new Uint8Array(0), ...inputs },
    LIMITS,
    performance.now() + LIMITS.timeoutMs,
  );

test("wasi:config/store answers from the invocation's entries, each run its own", async () => {
  const bytes = await parse(readFileSync(root("test/fixtures/components/config-check.wat"), "utf8"));
  assert.deepEqual(inspectComponent(bytes).imports, ["wasi:config/store@0.2.0-draft"]);
  const d = await load(bytes);
  const hello = await run(d, { config: [["app/greeting", "hello"]] });
  assert.equal(hello.error, undefined, Buffer.from(hello.stderr).toString());
  assert.equal(hello.exitCode, 0);
  const other = await run(d, { config: [["app/greeting", "bye"]] });
  assert.equal(
    other.error?.kind,
    "exit",
    `another value: the component's err, not ${JSON.stringify(other.error)}`,
  );
  const none = await run(d, {});
  assert.equal(none.error?.kind, "exit", "no entry: none");
  const again = await run(d, {
    config: [
      ["db/password", "x"],
      ["app/greeting", "hello"],
    ],
  });
  assert.equal(again.error, undefined);
});

test("a component reads mounted files; writing them is refused as for a read-only file", async () => {
  const d = await load(new Uint8Array(readFileSync(root("test/fixtures/components/readfile.cmd.wasm"))), [
    ["/data/greeting.txt", Buffer.from("from the image")],
  ]);
  const mounts = new Map([["/data", new Map([["greeting.txt", Buffer.from("from a config")]])]]);
  const r = await run(d, { mounts });
  assert.match(Buffer.from(r.stdout).toString(), /^greeting: from a config\n/);
  assert.match(Buffer.from(r.stderr).toString(), /cannot write \/data\/greeting.txt: Permission denied/);
  assert.equal(r.exitCode, 1);
  // Without the mount, the image's file is there and writable again (the layer is per invocation).
  const plain = await run(d, {});
  assert.equal(plain.error, undefined, Buffer.from(plain.stderr).toString());
  assert.match(Buffer.from(plain.stdout).toString(), /^greeting: from the image\n/);
});
