// Packages through the real API, the real embedded registry and the real AssemblyScript builder.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiClient, MAX_SOURCE_ARCHIVE_BYTES, packArchive, unpackArchive } from "../client/index.js";
import { isWasmletError } from "../core/index.js";
import type { PackageRecord } from "../store/index.js";
import { b64, type ControlPort, call, startControlPort } from "./test-support.js";

const HELLO = (greeting: string) => `console.log("${greeting}");\n`;
const BROKEN = "let x: i32 = notDefinedAnywhere;\n";

async function archiveOf(files: Record<string, string>): Promise<string> {
  return b64(await packArchive(new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)]))));
}

async function finished(api: ApiClient, name: string, generation: number): Promise<PackageRecord> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const p = await api.getPackage(name);
    if (p.generation >= generation && (p.status === "succeeded" || p.status === "failed")) return p;
    assert.ok(Date.now() < deadline, `package ${name} still ${p.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function rejects(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e) => isWasmletError(e) && e.code === code && pattern.test(e.message));
}

let cp: ControlPort;
let api: ApiClient;
before(async () => {
  cp = await startControlPort();
  api = new ApiClient({ server: cp.url });
});
after(() => cp.close());

describe("packages", () => {
  test("create builds the source in the background and creates the function it was asked for", async () => {
    const p = await api.createPackage({
      name: "hello-as",
      builder: "assemblyscript",
      archive: await archiveOf({ "hello.ts": HELLO("one") }),
      fileName: "hello.ts",
      function: { name: "hello-as", env: { A: "1" } },
    });
    assert.equal(p.status, "pending");
    await rejects(api.getFunction("hello-as"), "NOT_FOUND", /not found/);
    const done = await finished(api, "hello-as", p.generation);
    assert.equal(done.status, "succeeded", done.buildLog);
    assert.match(done.image ?? "", /\/packages\/hello-as:build-1$/);
    const fn = await api.getFunction("hello-as");
    assert.equal(fn.current.digest, done.digest);
    assert.equal(fn.package, "hello-as");
    assert.deepEqual(fn.env, { A: "1" });
    const image = await cp.registry.pull(`${cp.host}/packages/hello-as@${done.digest}`);
    assert.equal(image.entry, "/hello.wasm");
    assert.ok(cp.deployed.some((f) => f.name === "hello-as"));
    // The source comes back byte for byte.
    const src = await api.getPackageSource("hello-as");
    assert.equal(src.fileName, "hello.ts");
    assert.equal(
      Buffer.from((await unpackArchive(src.archive)).get("hello.ts") ?? []).toString(),
      HELLO("one"),
    );
  });

  test("a new source makes a new version; a failing one keeps the last good version and logs the compiler", async () => {
    const v2 = await api.updatePackage("hello-as", {
      archive: await archiveOf({ "hello.ts": HELLO("two") }),
    });
    const ok = await finished(api, "hello-as", v2.generation);
    assert.equal(ok.status, "succeeded", ok.buildLog);
    const fn2 = await api.getFunction("hello-as");
    assert.deepEqual(
      fn2.versions.map((v) => v.version),
      [1, 2],
    );
    assert.equal(fn2.current.digest, ok.digest);

    const bad = await api.updatePackage("hello-as", { archive: await archiveOf({ "hello.ts": BROKEN }) });
    const failed = await finished(api, "hello-as", bad.generation);
    assert.equal(failed.status, "failed");
    assert.match(failed.buildLog, /notDefinedAnywhere/);
    const fn3 = await api.getFunction("hello-as");
    assert.deepEqual(fn3.current, fn2.current, "the function keeps serving version 2");
    assert.equal(fn3.versions.length, 2);

    // Rollback: default is the previous version, --to picks one; the list stays.
    const back = await api.rollbackFunction("hello-as");
    assert.equal(back.current.version, 1);
    assert.equal((await api.rollbackFunction("hello-as", 2)).current.version, 2);
    await rejects(api.rollbackFunction("hello-as", 7), "NOT_FOUND", /no version 7/);
  });

  test("rebuild builds the stored source again; status passes through pending", async () => {
    const r = await api.rebuildPackage("hello-as");
    assert.equal(r.status, "pending");
    assert.equal(
      (await finished(api, "hello-as", r.generation)).status,
      "failed",
      "the stored source is the broken one",
    );
  });

  test("delete is refused while a function uses the package, unless forced", async () => {
    await rejects(api.deletePackage("hello-as"), "CONFLICT", /used by function hello-as/);
    await api.deletePackage("hello-as", true);
    await rejects(api.getPackage("hello-as"), "NOT_FOUND", /not found/);
    const fn = await api.getFunction("hello-as");
    assert.equal(fn.package, undefined);
    assert.equal(fn.current.version, 2, "the function keeps its image");
  });

  test("bad input: unknown builder, both builder and environment, missing environment, bad archive, over the cap", async () => {
    const archive = await archiveOf({ "a.ts": HELLO("x") });
    await rejects(
      api.createPackage({ name: "p1", builder: "cobol", archive, fileName: "a.ts" }),
      "INVALID_ARGUMENT",
      /builder: "cobol" is not a known builder \(use one of assemblyscript, c, rust\)/,
    );
    await rejects(
      api.createPackage({ name: "p1", builder: "c", environment: "e", archive, fileName: "a.ts" }),
      "INVALID_ARGUMENT",
      /environment: cannot be given together with builder/,
    );
    await rejects(
      api.createPackage({ name: "p1", environment: "nope", archive, fileName: "a.ts" }),
      "NOT_FOUND",
      /environment "nope" not found/,
    );
    await rejects(
      api.createPackage({
        name: "p1",
        builder: "c",
        archive: b64(Buffer.from("not gzip")),
        fileName: "a.ts",
      }),
      "INVALID_ARGUMENT",
      /archive: not a gzip-compressed tar/,
    );
    const big = Buffer.alloc(MAX_SOURCE_ARCHIVE_BYTES + 1024, 7);
    const r = await call(cp.url, "POST", "/api/v1/packages", {
      name: "p1",
      builder: "c",
      archive: b64(big),
      fileName: "big.c",
    });
    assert.equal(r.status, 413);
    assert.match(r.json.error?.message ?? "", /archive: .*over the 32\.0 MiB limit/);
    assert.deepEqual(await api.listPackages(), [], "nothing was stored");
  });

  test("environments: a builder preset packages use; deleting one in use is refused", async () => {
    await rejects(
      api.createEnvironment({ name: "rust2", builder: "go" }),
      "INVALID_ARGUMENT",
      /builder: "go" is not a known builder/,
    );
    await api.createEnvironment({ name: "as", builder: "assemblyscript" });
    assert.deepEqual(
      (await api.listEnvironments()).map((e) => e.builder),
      ["assemblyscript"],
    );
    const p = await api.createPackage({
      name: "from-env",
      environment: "as",
      archive: await archiveOf({ "main.ts": HELLO("env") }),
      fileName: "main.ts",
    });
    assert.equal(p.builder, "assemblyscript");
    assert.equal((await finished(api, "from-env", p.generation)).status, "succeeded");
    await rejects(api.deleteEnvironment("as"), "CONFLICT", /used by package from-env/);
    // Binding an existing successful package creates the function at once.
    const bound = await api.bindFunction("from-env", { name: "env-fn" });
    assert.equal(bound.function?.current.digest, (await api.getPackage("from-env")).digest);
    await api.deleteFunction("env-fn");
    await api.deletePackage("from-env");
    await api.deleteEnvironment("as");
  });
});
