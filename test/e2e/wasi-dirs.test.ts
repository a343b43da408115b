// A tool that writes its result to a file, deployed with `fn create --dir` and used as a user would: `fn test`
// behaves like running it (stdout, stderr, exit code), `--out` brings its file back, and an HTTP caller gets
// the file as the body (--output-file) and the exit code in X-Wasmlet-Exit-Code. Optionally, the shared
// wasi-testsuite runner (../shared/tools/wasi-testsuite/run.py) against the same server.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cli, fixture, ROOT, type Server, show, startServer, waitFor } from "./harness.js";

let server: Server;
let work: string;
before(async () => {
  server = await startServer();
  work = join(mkdtempSync(join(tmpdir(), "wasmlet-dirs-")), "work");
  mkdirSync(join(work, "empty"), { recursive: true });
  writeFileSync(join(work, "input.txt"), "make me loud");
  symlinkSync("input.txt", join(work, "alias.txt"));
});
after(() => server?.stop());

test("fn test of a --dir tool: its stdout, stderr and exit code; --out writes the file it wrote", async () => {
  const c = await cli(
    server,
    "fn",
    "create",
    "--name",
    "tool",
    "--code",
    fixture("tool.wasm"),
    "--dir",
    `${work}::work`,
    "--arg",
    "work",
    "--arg",
    "3",
  );
  assert.equal(c.code, 0, show(c));
  const out = mkdtempSync(join(tmpdir(), "wasmlet-out-"));
  const t = await cli(server, "fn", "test", "--name", "tool", "--out", out);
  assert.equal(t.code, 3, show(t));
  assert.equal(t.stdout, "wrote 12 bytes\n");
  assert.equal(t.stderr, "tool: done\n");
  assert.equal(readFileSync(join(out, "out", "result.txt"), "utf8"), "MAKE ME LOUD");
  // The next run starts from the image again: nothing it wrote survived.
  const again = await cli(server, "fn", "test", "--name", "tool", "--out", `${out}2`);
  assert.equal(again.code, 3, show(again));
  assert.equal(readFileSync(join(`${out}2`, "out", "result.txt"), "utf8"), "MAKE ME LOUD");
});

test("an HTTP caller gets the written file as the body (--output-file) and the exit code in a header", async () => {
  const u = await cli(
    server,
    "fn",
    "update",
    "--name",
    "tool",
    "--arg",
    "work",
    "--arg",
    "0",
    "--output-file",
    "/work/out/result.txt",
  );
  assert.equal(u.code, 0, show(u));
  const r = await cli(server, "route", "create", "--name", "tool", "--function", "tool", "--url", "/tool");
  assert.equal(r.code, 0, show(r));
  const res = await waitFor(async () => {
    const got = await fetch(`${server.routerUrl}/tool`);
    return got.status === 404 ? undefined : got;
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-wasmlet-exit-code"), "0");
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  assert.equal(await res.text(), "MAKE ME LOUD");
  await cli(server, "fn", "update", "--name", "tool", "--arg", "work", "--arg", "9", "--output-file", "");
  const failed = await waitFor(async () => {
    const got = await fetch(`${server.routerUrl}/tool`);
    return got.status === 500 ? got : undefined;
  });
  assert.equal(failed.headers.get("x-wasmlet-exit-code"), "9");
});

// The project's checkout sits beside shared/ (a worktree one level deeper); WASI_TESTSUITE_RUN names another.
const RUNNER = [
  process.env.WASI_TESTSUITE_RUN,
  join(ROOT, "../shared/tools/wasi-testsuite/run.py"),
  join(ROOT, "../../shared/tools/wasi-testsuite/run.py"),
].find((p): p is string => p !== undefined && existsSync(p));

test("wasi-testsuite: every preview1 test passes (when the shared runner is present)", {
  skip: RUNNER === undefined,
}, () => {
  // ~35 s for 72 tests here: each is create, test and delete through the CLI.
  const r = spawnSync("python3", [RUNNER as string], {
    cwd: ROOT,
    env: { ...process.env, WASMLET_SERVER: server.controlUrl },
    encoding: "utf8",
    timeout: 180_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /wasi-testsuite preview1: 72 passed, 0 failed/);
});
