import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RegistryClient } from "../registry/index.js";
import {
  closedPort,
  commandModule,
  startServer,
  type TestServer,
  wasmlet,
  wasmletLive,
} from "./test-support.js";

let srv: TestServer;
let S: string[];
before(async () => {
  srv = await startServer();
  S = ["--server", srv.url];
});
after(() => srv.close());

/** A failure is exactly one `error: ...` line on stderr and exit status 1. */
function assertOneLineError(r: { code: number; stderr: string; stdout: string }, message: RegExp) {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr, /^error: /);
  assert.match(r.stderr, message);
}

describe("wasmlet fn", () => {
  test("create from a .wasm file, then list, get and get -o json show it", async () => {
    const code = await srv.file("hello.wasm", commandModule("hello"));
    const r = await wasmlet([
      ...S,
      "fn",
      "create",
      "--name",
      "hello",
      "--code",
      code,
      "--arg",
      "20000",
      "--env",
      "A=1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const fn = await srv.api.getFunction("hello");
    assert.match(
      r.stdout,
      /^function "hello" created \(version 1, .*functions\/hello:v1, digest [0-9a-f]{12}\)\n$/,
    );
    assert.deepEqual(fn.args, ["20000"]);
    assert.deepEqual(fn.env, { A: "1" });

    const list = await wasmlet([...S, "fn", "list"]);
    assert.equal(list.code, 0);
    const [header, row] = list.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(/\s{3,}/));
    assert.deepEqual(header, ["NAME", "CONTRACT", "VERSION", "DIGEST", "IMAGE"]);
    assert.deepEqual(row, ["hello", "command", "1", fn.current.digest.slice(7, 19), fn.current.image]);

    const json = await wasmlet([...S, "fn", "get", "--name", "hello", "-o", "json"]);
    assert.deepEqual(JSON.parse(json.stdout), fn);
    const yaml = await wasmlet([...S, "fn", "get", "--name", "hello"]);
    assert.match(yaml.stdout, /^name: hello$/m);
    assert.match(yaml.stdout, /^args:\n {2}- "20000"$/m, "a numeric-looking string is quoted");
    assert.match(yaml.stdout, /^current:\n {2}version: 1$/m);
  });

  test("update: settings keep the version, --code makes a new one", async () => {
    const r = await wasmlet([
      ...S,
      "fn",
      "update",
      "--name",
      "hello",
      "--timeout",
      "500",
      "--contract",
      "wagi",
    ]);
    assert.equal(r.code, 0, r.stderr);
    let fn = await srv.api.getFunction("hello");
    assert.equal(fn.limits.timeoutMs, 500);
    assert.equal(fn.contract, "wagi");
    assert.equal(fn.current.version, 1);
    const code = await srv.file("hello2.wasm", commandModule("hello-2"));
    const r2 = await wasmlet([...S, "fn", "update", "--name", "hello", "--code", code]);
    assert.match(r2.stdout, /updated \(version 2,/);
    fn = await srv.api.getFunction("hello");
    assert.equal(fn.current.version, 2);
  });

  test("test prints the function's body; method, path, query, headers and body reach it", async () => {
    const r = await wasmlet([
      ...S,
      "fn",
      "test",
      "--name",
      "hello",
      "--body",
      "hi",
      "--path",
      "/x/y?q=1",
      "--header",
      "X-A: b",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout);
    assert.equal(seen.method, "POST", "a body makes the default method POST");
    assert.equal(seen.path, "/x/y");
    assert.equal(seen.query, "q=1");
    assert.equal(seen.headers["x-a"], "b");
    assert.equal(seen.body, "hi");
    const file = await srv.file("body.txt", "from a file");
    const put = await wasmlet([
      ...S,
      "fn",
      "test",
      "--name",
      "hello",
      "--method",
      "put",
      "--body-file",
      file,
    ]);
    assert.deepEqual([JSON.parse(put.stdout).method, JSON.parse(put.stdout).body], ["PUT", "from a file"]);
  });

  test("test of a command function: its stdout, its stderr and its exit code, like running the program", async () => {
    const code = await srv.file("exits.wasm", commandModule("exits"));
    const made = await wasmlet([...S, "fn", "create", "--name", "exits", "--code", code, "--env", "EXIT=33"]);
    assert.equal(made.code, 0, made.stderr);
    const r = await wasmlet([...S, "fn", "test", "--name", "exits", "--path", "/p?arg=a"]);
    assert.equal(r.code, 33);
    assert.equal(JSON.parse(r.stdout).query, "arg=a");
    assert.equal(r.stderr, "stderr of exits\n", "the program's stderr, and nothing else for a plain exit");
    await srv.api.updateFunction("exits", { env: { TRAP: "1" } });
    const trapped = await wasmlet([...S, "fn", "test", "--name", "exits"]);
    assert.equal(trapped.code, 1);
    assert.equal(trapped.stderr, "stderr of exits\nerror: function exits failed: trap: unreachable\n");
  });

  test("test --out LOCAL[::GUEST] writes the files the run wrote under the preopened directory", async () => {
    const dir = join(srv.dir, "work");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "in.txt"), "in");
    const code = await srv.file("tool.wasm", commandModule("tool"));
    const made = await wasmlet([
      ...S,
      "fn",
      "create",
      "--name",
      "tool",
      "--code",
      code,
      "--dir",
      `${dir}::work`,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const out = join(srv.dir, "results");
    const r = await wasmlet([...S, "fn", "test", "--name", "tool", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(out, "sub", "out.txt"), "utf8"), "written");
    const named = await wasmlet([...S, "fn", "test", "--name", "tool", "--out", `${out}2::work`]);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(readFileSync(join(`${out}2`, "sub", "out.txt"), "utf8"), "written");
    // Without a --dir, "/" is collected: where `tool -o x` writes, its working directory being "/".
    await srv.api.createFunction({
      name: "plain",
      code: Buffer.from(commandModule("plain")).toString("base64"),
    });
    const root = await wasmlet([...S, "fn", "test", "--name", "plain", "--out", `${out}3`]);
    assert.equal(root.code, 0, root.stderr);
    assert.equal(readFileSync(join(`${out}3`, "sub", "out.txt"), "utf8"), "written");
  });

  test("create --dir LOCAL::GUEST sends the directory's files, subdirectories and symlinks under GUEST", async () => {
    const dir = join(srv.dir, "tree");
    mkdirSync(join(dir, "empty"), { recursive: true });
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "f.txt"), "f");
    symlinkSync("sub/f.txt", join(dir, "link"));
    const code = await srv.file("tree.wasm", commandModule("tree"));
    for (const [name, spec, guest] of [
      ["tree-a", `${dir}::fs-tests.dir`, "fs-tests.dir"],
      ["tree-b", dir, dir],
    ]) {
      const r = await wasmlet([...S, "fn", "create", "--name", name, "--code", code, "--dir", spec]);
      assert.equal(r.code, 0, r.stderr);
      const fn = await srv.api.getFunction(name);
      assert.deepEqual(fn.current.dirs, [guest]);
      const img = await new RegistryClient().pull(fn.current.image);
      const base = guest.startsWith("/") ? guest : `/${guest}`;
      assert.equal(Buffer.from(img.files.get(`${base}/sub/f.txt`) ?? []).toString(), "f");
      assert.deepEqual([...(img.symlinks ?? [])], [[`${base}/link`, "sub/f.txt"]]);
      assert.ok(img.dirs?.includes(`${base}/empty`));
    }
    symlinkSync("/etc/passwd", join(dir, "abs"));
    const abs = await wasmlet([...S, "fn", "create", "--name", "tree-c", "--code", code, "--dir", dir]);
    assertOneLineError(abs, /links to the absolute path \/etc\/passwd/);
    const up = await wasmlet([...S, "fn", "create", "--name", "tree-d", "--code", code, "--dir", "../up"]);
    assertOneLineError(
      up,
      /guest name "\.\.\/up" must not contain "\.\." segments; name it with --dir \.\.\/up::NAME/,
    );
    const noCode = await wasmlet([...S, "fn", "update", "--name", "tree-a", "--dir", join(dir, "sub")]);
    assertOneLineError(noCode, /dirs: is only allowed together with code/);
    for (const name of ["tree-a", "tree-b", "tool", "exits", "plain"]) await srv.api.deleteFunction(name);
  });

  test("test of a failing wagi function: exit 1, the status and its last log lines on stderr", async () => {
    const code = await srv.file("bad.wasm", commandModule("bad"));
    assert.equal(
      (
        await wasmlet([
          ...S,
          "fn",
          "create",
          "--name",
          "bad",
          "--code",
          code,
          "--contract",
          "wagi",
          "--env",
          "STATUS=500",
        ])
      ).code,
      0,
    );
    const r = await wasmlet([...S, "fn", "test", "--name", "bad", "--path", "/boom"]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines[0], "error: function bad returned 500");
    assert.match(lines[1], /^2024-05-01T10:00:00\.000Z {2}500 {2}3ms {2}[0-9a-f]{12} {2}exit status 1$/);
    assert.equal(lines[2], "    ran GET /boom");
  });

  test("logs: one line per invocation, then its stderr indented; -f prints new ones as they come", async () => {
    const r = await wasmlet([...S, "fn", "logs", "--name", "hello", "--limit", "1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split("\n").length, 2);
    assert.match(r.stdout, /200 {2}3ms {2}[0-9a-f]{12}\n {4}ran PUT \/\n$/);

    const live = wasmletLive([...S, "fn", "logs", "--name", "hello", "-f", "--limit", "1"]);
    try {
      let out = "";
      live.stdout.setEncoding("utf8");
      const saw = (re: RegExp) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got: ${out}`)), 5000);
          const check = () => {
            if (re.test(out)) {
              clearTimeout(t);
              live.stdout.off("data", onData);
              resolve();
            }
          };
          const onData = (d: string) => {
            out += d;
            check();
          };
          live.stdout.on("data", onData);
          check();
        });
      await saw(/ran PUT \//);
      await srv.api.invoke("hello", { path: "/later" });
      await saw(/ran GET \/later/);
    } finally {
      live.kill();
    }
  });

  test("delete", async () => {
    const r = await wasmlet([...S, "fn", "delete", "--name", "bad"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'function "bad" deleted\n');
    assert.ok(!(await srv.api.listFunctions()).some((f) => f.name === "bad"));
  });
});

describe("wasmlet route", () => {
  test("create, list, get, delete", async () => {
    const c = await wasmlet([
      ...S,
      "route",
      "create",
      "--name",
      "r1",
      "--function",
      "hello",
      "--url",
      "/hi/{who}",
      "--method",
      "get",
      "--method",
      "POST",
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, 'route "r1" created: GET,POST /hi/{who} -> hello\n');
    const list = await wasmlet([...S, "route", "list"]);
    assert.deepEqual(
      list.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(/\s{3,}/)),
      [
        ["NAME", "METHODS", "MATCH", "PATH", "FUNCTION"],
        ["r1", "GET,POST", "exact", "/hi/{who}", "hello"],
      ],
    );
    const get = await wasmlet([...S, "route", "get", "--name", "r1", "-o", "json"]);
    assert.deepEqual(JSON.parse(get.stdout), await srv.api.getHttpTrigger("r1"));
    assertOneLineError(await wasmlet([...S, "fn", "delete", "--name", "hello"]), /used by HTTP trigger r1/);
    assert.equal((await wasmlet([...S, "route", "delete", "--name", "r1"])).code, 0);
    assert.deepEqual(await srv.api.listHttpTriggers(), []);
  });
});

describe("wasmlet errors and help", () => {
  test("serve --busy-poll-us takes a whole number of microseconds from 0 to 10000", async () => {
    for (const bad of ["-1", "1.5", "abc", "10001"]) {
      // Ephemeral ports and a scratch directory: were the value accepted, serve would start (and time out).
      const dir = await srv.file("unused", "");
      const r = await wasmlet([
        "serve",
        "--busy-poll-us",
        bad,
        "--data-dir",
        `${dir}.d`,
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
      ]);
      assertOneLineError(r, /--busy-poll-us: ".*" is not a whole number of microseconds from 0 to 10000/);
    }
  });

  test("server errors, usage errors and an unreachable server are one line and exit 1", async () => {
    const notWasm = await srv.file("x.wasm", "not wasm at all");
    assertOneLineError(
      await wasmlet([...S, "fn", "create", "--name", "x", "--code", notWasm]),
      /^error: code: not a WebAssembly module/,
    );
    assertOneLineError(
      await wasmlet([...S, "fn", "get", "--name", "nope"]),
      /^error: function "nope" not found\n$/,
    );
    assertOneLineError(
      await wasmlet([...S, "fn", "create", "--code", notWasm]),
      /required option '--name <name>'/,
    );
    assertOneLineError(
      await wasmlet([...S, "fn", "create", "--name", "x", "--timeout", "-3", "--code", notWasm]),
      /--timeout/,
    );
    assertOneLineError(
      await wasmlet([...S, "route", "create", "--name", "r", "--function", "hello"]),
      /exactly one of --url or --prefix/,
    );
    assertOneLineError(await wasmlet([...S, "fn", "frobnicate"]), /unknown command 'frobnicate'/);
    assertOneLineError(
      await wasmlet([...S, "fn", "create", "--name", "x", "--code", "/no/such/file.wasm"]),
      /--code: cannot read/,
    );
    const [code, data] = [await srv.file("files.wasm", commandModule("files")), await srv.file("a.txt", "a")];
    assertOneLineError(
      await wasmlet([
        ...S,
        "fn",
        "create",
        "--name",
        "x",
        "--code",
        code,
        "--file",
        `/a=${data}`,
        "--file",
        `/a/b=${data}`,
      ]),
      /^error: files: "\/a\/b" needs "\/a" to be a directory, but "\/a" is a file too\n$/,
    );
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const r = await wasmlet(["fn", "list"], { WASMLET_SERVER: dead });
    assert.equal(r.stderr, `error: cannot reach the wasmlet API at ${dead} (is "wasmlet serve" running?)\n`);
    assert.equal(r.code, 1);
    assert.deepEqual(
      await srv.api.listFunctions().then((l) => l.map((f) => f.name)),
      ["hello"],
      "nothing was created",
    );
  });

  test("every command has --help (exit 0)", async () => {
    const commands = [
      [],
      ["fn"],
      ["route"],
      ...["create", "get", "list", "update", "delete", "test", "logs"].map((c) => ["fn", c]),
      ...["create", "get", "list", "delete"].map((c) => ["route", c]),
    ];
    const results = await Promise.all(commands.map((c) => wasmlet([...c, "--help"])));
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 0, `${commands[i].join(" ")}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: wasmlet/);
    }
  });

  test("the token comes from --token or WASMLET_TOKEN", async () => {
    const secured = await startServer("t0ken");
    try {
      assertOneLineError(await wasmlet(["--server", secured.url, "fn", "list"]), /^error: authorization: /);
      assert.equal((await wasmlet(["--server", secured.url, "--token", "t0ken", "fn", "list"])).code, 0);
      const viaEnv = await wasmlet(["fn", "list"], { WASMLET_SERVER: secured.url, WASMLET_TOKEN: "t0ken" });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.equal(viaEnv.stdout, "NAME   CONTRACT   VERSION   DIGEST   IMAGE\n");
    } finally {
      await secured.close();
    }
  });
});
