// A crash (SIGKILL) loses nothing stored: after a restart every function and route serves again.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cli, deploy, example, startServer } from "./harness.js";

test("SIGKILL and restart keep every function and route, and they serve", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-restart-"));
  try {
    const first = await startServer(dir);
    for (const [name, file, contract] of [
      ["hello", "hello/hello.wasm", "command"],
      ["echo", "wagi-echo/echo.wasm", "wagi"],
    ]) {
      await deploy(first, {
        name,
        code: example(file),
        args: ["--contract", contract, "--arg", "20000"],
        route: ["--prefix", `/${name}`],
      });
    }
    assert.equal((await fetch(`${first.routerUrl}/hello`)).status, 200);
    await first.kill();

    const second = await startServer(dir);
    try {
      const hello = await fetch(`${second.routerUrl}/hello`);
      assert.equal(hello.status, 200);
      assert.equal(await hello.text(), "hello\n20000\n");
      const echo = await fetch(`${second.routerUrl}/echo/after-restart`);
      assert.equal(echo.status, 200);
      assert.match(await echo.text(), /path: \/after-restart/);
      const list = await cli(second, "fn", "list");
      assert.match(list.stdout, /hello/);
      assert.match(list.stdout, /echo/);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
