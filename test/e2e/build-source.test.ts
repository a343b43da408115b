// Functions from source through the real server and CLI: builds, versions, rollback, specs, restart, bad input.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BUILDERS } from "../../src/build/index.js";
import { unpackArchive } from "../../src/client/index.js";
import { cli, example, type Server, show, startServer, waitFor } from "./harness.js";

const work = mkdtempSync(join(tmpdir(), "wasmlet-e2e-src-"));
const cReady = await BUILDERS.c.detect();
const rustReady = await BUILDERS.rust.detect();

async function get(url: string): Promise<string> {
  return (await fetch(url)).text();
}

let server: Server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("functions from source", () => {
  test("AssemblyScript: create, failed update keeps serving, versions, rollback", async () => {
    const r = await cli(server, "fn", "create", "--name", "as-src", "--src", example("as-hello/hello.ts"));
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /function "as-src" created .*version 1/);
    assert.match(r.stderr, /package as-src: (pending|running)/, "plain progress lines off a terminal");
    assert.equal(
      (await cli(server, "route", "create", "--name", "as-src", "--function", "as-src", "--url", "/as")).code,
      0,
    );
    assert.equal(await get(`${server.routerUrl}/as`), "hello from AssemblyScript\n");

    const v2 = join(work, "v2.ts");
    writeFileSync(v2, 'console.log("second");\n');
    assert.equal((await cli(server, "fn", "update", "--name", "as-src", "--src", v2)).code, 0);
    assert.equal(await get(`${server.routerUrl}/as`), "second\n");

    const bad = join(work, "bad.ts");
    writeFileSync(bad, "let x: i32 = undefinedThing;\n");
    const f = await cli(server, "fn", "update", "--name", "as-src", "--src", bad);
    assert.equal(f.code, 1, show(f));
    assert.match(f.stderr, /build of package "as-src" failed:\n[\s\S]*undefinedThing/);
    assert.equal(await get(`${server.routerUrl}/as`), "second\n", "a failed build changes nothing");
    const info = await cli(server, "pkg", "info", "--name", "as-src");
    assert.match(info.stdout, /status: failed/);
    assert.match(info.stdout, /undefinedThing/);

    const versions = await cli(server, "fn", "versions", "--name", "as-src");
    assert.match(versions.stdout, /^\s+1\s/m);
    assert.match(versions.stdout, /^\*\s+2\s/m);
    const rb = await cli(server, "fn", "rollback", "--name", "as-src");
    assert.equal(rb.code, 0, show(rb));
    // The router swaps its table from the change feed: the old version answers within moments.
    await waitFor(
      async () =>
        (await get(`${server.routerUrl}/as`)) === "hello from AssemblyScript\n" ? true : undefined,
      { ms: 3000, intervalMs: 50, what: () => "rollback did not reach the router" },
    );
  });

  test("C: fn create --src, pkg getsrc, pkg delete refused while used", {
    skip: cReady.ok ? false : `C toolchain missing: ${!cReady.ok && cReady.install}`,
  }, async () => {
    const r = await cli(server, "fn", "create", "--name", "c-src", "--src", example("hello/hello.c"));
    assert.equal(r.code, 0, show(r));
    const t = await cli(server, "fn", "test", "--name", "c-src");
    assert.equal(t.stdout, "hello\n");
    const out = join(work, "src.tar.gz");
    assert.equal((await cli(server, "pkg", "getsrc", "--name", "c-src", "-o", out)).code, 0);
    const files = await unpackArchive(readFileSync(out));
    assert.deepEqual(Buffer.from(files.get("hello.c") ?? []), readFileSync(example("hello/hello.c")));
    const d = await cli(server, "pkg", "delete", "--name", "c-src");
    assert.equal(d.code, 1);
    assert.match(d.stderr, /used by function c-src/);
  });

  test("Rust: fn create --src main.rs", {
    skip: rustReady.ok ? false : `Rust toolchain missing: ${!rustReady.ok && rustReady.install}`,
  }, async () => {
    const src = join(work, "main.rs");
    writeFileSync(src, 'fn main() { println!("hello from rust"); }\n');
    const r = await cli(server, "fn", "create", "--name", "rs-src", "--src", src);
    assert.equal(r.code, 0, show(r));
    assert.equal((await cli(server, "fn", "test", "--name", "rs-src")).stdout, "hello from rust\n");
  });

  test("bad input: unknown builder, archive over the cap, --no-wait returns at once", async () => {
    const u = await cli(
      server,
      "fn",
      "create",
      "--name",
      "u",
      "--src",
      example("hello/hello.c"),
      "--builder",
      "cobol",
    );
    assert.equal(u.code, 1);
    assert.match(u.stderr, /builder: "cobol" is not a known builder/);
    const dir = mkdtempSync(join(work, "big-"));
    writeFileSync(join(dir, "main.c"), "int main(){return 0;}\n");
    // Random bytes do not compress: the archive stays over the cap.
    writeFileSync(join(dir, "blob.bin"), randomBytes(33 * 1024 * 1024));
    const o = await cli(server, "pkg", "create", "--name", "big", "--src", dir, "--builder", "c");
    assert.equal(o.code, 1);
    assert.match(o.stderr, /over the 32 MiB limit/);
    const n = await cli(
      server,
      "pkg",
      "create",
      "--name",
      "later",
      "--src",
      example("as-hello/hello.ts"),
      "--builder",
      "assemblyscript",
      "--no-wait",
    );
    assert.equal(n.code, 0, show(n));
    assert.match(n.stdout, /queued for build/);
  });

  test("a restart requeues builds left pending or running", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "wasmlet-e2e-restart-"));
    let s = await startServer(dataDir);
    try {
      const r = await cli(
        s,
        "pkg",
        "create",
        "--name",
        "re",
        "--src",
        example("as-hello/hello.ts"),
        "--builder",
        "assemblyscript",
        "--no-wait",
      );
      assert.equal(r.code, 0, show(r));
      await s.kill();
      s = await startServer(dataDir);
      let info = "";
      await waitFor(
        async () => {
          info = (await cli(s, "pkg", "info", "--name", "re")).stdout;
          if (/status: succeeded/.test(info)) return true;
          assert.doesNotMatch(info, /status: failed/);
          return undefined;
        },
        { ms: 60_000, intervalMs: 200, what: () => info },
      );
    } finally {
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("specs", () => {
  test("init, --spec, validate, apply (idempotent), change, apply --delete, destroy", async () => {
    const proj = mkdtempSync(join(work, "proj-"));
    const run = (...args: string[]) =>
      cli(server, ...args, ...(args[0] === "spec" ? ["--specdir", join(proj, "specs")] : []));
    const w = (...args: string[]) => run(...args, "--spec", "--specdir", join(proj, "specs"));
    writeFileSync(join(proj, "hi.ts"), 'console.log("from spec");\n');
    assert.equal((await run("spec", "init")).code, 0);
    assert.equal((await w("env", "create", "--name", "as", "--builder", "assemblyscript")).code, 0);
    const fc = await w("fn", "create", "--name", "sp", "--src", join(proj, "hi.ts"), "--env", "as");
    assert.equal(fc.code, 0, show(fc));
    assert.match(
      readFileSync(join(proj, "specs/package-sp.yaml"), "utf8"),
      /source: hi\.ts/,
      "paths stay relative",
    );
    assert.equal((await w("route", "create", "--name", "sp", "--function", "sp", "--url", "/sp")).code, 0);
    assert.equal((await run("spec", "validate")).code, 0);
    assert.equal((await cli(server, "fn", "get", "--name", "sp")).code, 1, "--spec did not call the API");

    const a1 = await run("spec", "apply", "--wait");
    assert.equal(a1.code, 0, show(a1));
    assert.match(a1.stdout, /Environment as created[\s\S]*Package sp created[\s\S]*HTTPTrigger sp created/);
    assert.equal(await get(`${server.routerUrl}/sp`), "from spec\n");
    const a2 = await run("spec", "apply");
    assert.match(a2.stdout, /nothing changed: 4 resources up to date/);

    writeFileSync(join(proj, "hi.ts"), 'console.log("changed");\n');
    rmSync(join(proj, "specs/route-sp.yaml"));
    const a3 = await run("spec", "apply", "--delete", "--wait");
    assert.equal(a3.code, 0, show(a3));
    assert.match(a3.stdout, /Package sp updated/);
    assert.match(a3.stdout, /HTTPTrigger sp deleted/);
    assert.equal((await cli(server, "fn", "test", "--name", "sp")).stdout, "changed\n");
    assert.equal((await fetch(`${server.routerUrl}/sp`)).status, 404);

    const d = await run("spec", "destroy");
    assert.equal(d.code, 0, show(d));
    assert.equal((await cli(server, "fn", "get", "--name", "sp")).code, 1);
    assert.equal((await cli(server, "env", "get", "--name", "as")).code, 1);
  });

  test("fn create --spec --code copies the module into specs/; the folder alone deploys it elsewhere", async () => {
    const proj = mkdtempSync(join(work, "code-"));
    const specdir = join(proj, "specs");
    const w = (...args: string[]) => cli(server, ...args, "--spec", "--specdir", specdir);
    assert.equal((await cli(undefined, "spec", "init", "--specdir", specdir)).code, 0);
    const fc = await w("fn", "create", "--name", "sc", "--code", example("hello/hello.wasm"), "--arg", "3");
    assert.equal(fc.code, 0, show(fc));
    assert.match(fc.stdout, /wrote .*specs\/sc\.wasm[\s\S]*wrote .*specs\/function-sc\.yaml/);
    assert.deepEqual(readFileSync(join(specdir, "sc.wasm")), readFileSync(example("hello/hello.wasm")));
    assert.match(readFileSync(join(specdir, "function-sc.yaml"), "utf8"), /code: specs\/sc\.wasm/);
    assert.equal((await w("route", "create", "--name", "sc", "--function", "sc", "--url", "/sc")).code, 0);
    assert.equal((await cli(server, "fn", "get", "--name", "sc")).code, 1, "--spec did not call the API");
    const notWasm = await w("fn", "create", "--name", "sx", "--code", join(proj, "specs/function-sc.yaml"));
    assert.equal(notWasm.code, 1);
    assert.match(notWasm.stderr, /--code: .* is not a WebAssembly module/);

    // Another machine: only the specs folder travels.
    const elsewhere = mkdtempSync(join(work, "copy-"));
    cpSync(specdir, join(elsewhere, "specs"), { recursive: true });
    rmSync(proj, { recursive: true, force: true });
    const a = await cli(server, "spec", "apply", "--specdir", join(elsewhere, "specs"));
    assert.equal(a.code, 0, show(a));
    assert.match(a.stdout, /Function sc created[\s\S]*HTTPTrigger sc created/);
    const hello = await get(`${server.routerUrl}/sc`);
    assert.match(hello, /hello/i);
    assert.match(
      (await cli(server, "spec", "apply", "--specdir", join(elsewhere, "specs"))).stdout,
      /nothing changed/,
    );
    // A new module in the folder is a change apply deploys as a new version.
    writeFileSync(join(elsewhere, "specs/sc.wasm"), readFileSync(example("wagi-echo/echo.wasm")));
    const a2 = await cli(server, "spec", "apply", "--specdir", join(elsewhere, "specs"));
    assert.match(a2.stdout, /Function sc updated/);
    assert.match((await cli(server, "fn", "versions", "--name", "sc")).stdout, /^\*\s+2\s/m);
    assert.equal((await cli(server, "spec", "destroy", "--specdir", join(elsewhere, "specs"))).code, 0);
  });

  test("validate names unknown kinds and fields, and a route to a missing function", async () => {
    const proj = mkdtempSync(join(work, "bad-"));
    assert.equal((await cli(undefined, "spec", "init", "--specdir", join(proj, "specs"))).code, 0);
    writeFileSync(
      join(proj, "specs/x.yaml"),
      "apiVersion: wasmlet.dev/v1\nkind: Gadget\nmetadata:\n  name: g\n---\napiVersion: wasmlet.dev/v1\nkind: HTTPTrigger\nmetadata:\n  name: r\nspec:\n  function: ghost\n  url: /g\n  verb: GET\n",
    );
    const v = await cli(undefined, "spec", "validate", "--specdir", join(proj, "specs"));
    assert.equal(v.code, 1);
    assert.match(v.stderr, /x\.yaml: kind: unknown kind "Gadget"/);
    assert.match(v.stderr, /x\.yaml: HTTPTrigger "r": spec\.verb: unknown field/);
    writeFileSync(
      join(proj, "specs/x.yaml"),
      "apiVersion: wasmlet.dev/v1\nkind: HTTPTrigger\nmetadata:\n  name: r\nspec:\n  function: ghost\n  url: /g\n",
    );
    const m = await cli(server, "spec", "apply", "--specdir", join(proj, "specs"));
    assert.equal(m.code, 1);
    assert.match(m.stderr, /x\.yaml: HTTPTrigger "r": spec\.function: function "ghost" is not defined/);
  });
});
