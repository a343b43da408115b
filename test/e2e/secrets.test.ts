// Secrets and configs as a user meets them: `secret create` and `config create`, a real C module that reads
// /secrets/db/password, /configs/app/greeting and DB_PASSWORD (test/fixtures/secrets.c), an update seen by the
// next call without a redeploy, and the value never in an answer of get/list, a log or the raw state files.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cli, fixture, type Server, show, startServer, waitFor } from "./harness.js";

const FIRST = "first-Pw-7Qx9Lm2";
const SECOND = "second-Pw-4Hc8Zt1";

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

async function call(path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${server.routerUrl}${path}`);
  return { status: res.status, text: await res.text() };
}

test("a module reads its secret as a read-only file and a variable; an update reaches the next call", async () => {
  const keyFile = join(server.dataDir, "secret.key");
  assert.throws(() => statSync(keyFile), "no key before the first secret");
  let r = await cli(server, "secret", "create", "--name", "db", "--from-literal", `password=${FIRST}`);
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout, 'secret "db" created with keys password\n');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600, "the key file is made 0600");
  const greeting = join(mkdtempSync(join(tmpdir(), "wasmlet-cfg-")), "greeting");
  writeFileSync(greeting, "hello");
  r = await cli(server, "config", "create", "--name", "app", "--from-file", greeting);
  assert.equal(r.code, 0, show(r));

  r = await cli(
    server,
    "fn",
    "create",
    "--name",
    "reader",
    "--code",
    fixture("secrets.wasm"),
    "--secret",
    "nope",
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /secret "nope" not found/);
  r = await cli(
    server,
    "fn",
    "create",
    "--name",
    "reader",
    "--code",
    fixture("secrets.wasm"),
    "--secret",
    "db",
    "--config",
    "app",
    "--env-from-secret",
    "DB_PASSWORD=db/password",
  );
  assert.equal(r.code, 0, show(r));
  r = await cli(server, "route", "create", "--name", "reader", "--function", "reader", "--url", "/reader");
  assert.equal(r.code, 0, show(r));

  const first = await waitFor(async () => {
    const got = await call("/reader");
    return got.status === 404 ? undefined : got;
  });
  assert.equal(first.status, 200, first.text);
  assert.equal(
    first.text,
    [
      `file: ${FIRST}`,
      `env: ${FIRST}`,
      "config: hello",
      "keys: password",
      "overwrite: Permission denied",
      "create: Permission denied",
      "remove: Permission denied",
      `after: ${FIRST}`,
      "",
    ].join("\n"),
  );

  r = await cli(server, "secret", "update", "--name", "db", "--from-literal", `password=${SECOND}`);
  assert.equal(r.code, 0, show(r));
  const next = await call("/reader");
  assert.match(next.text, new RegExp(`^file: ${SECOND}\nenv: ${SECOND}\n`), "the very next call");
  r = await cli(server, "config", "update", "--name", "app", "--from-literal", "greeting=hi");
  assert.match((await call("/reader")).text, /\nconfig: hi\n/);
  const fn = await cli(server, "fn", "get", "--name", "reader", "-o", "json");
  assert.equal(JSON.parse(fn.stdout).current.version, 1, "no redeploy");
});

test("get and list show keys only; delete of a secret in use is refused naming the function", async () => {
  const get = await cli(server, "secret", "get", "--name", "db");
  assert.equal(get.code, 0, show(get));
  assert.match(get.stdout, /keys:\n {2}- password\n/);
  assert.match(get.stdout, /usedBy:\n {2}- reader/);
  const list = await cli(server, "secret", "list");
  assert.match(list.stdout, /^NAME {3}KEYS {7}UPDATED\ndb {5}password/);
  const json = await cli(server, "secret", "get", "--name", "db", "-o", "json");
  for (const out of [get.stdout, list.stdout, json.stdout]) {
    assert.ok(!out.includes(FIRST) && !out.includes(SECOND), out);
  }
  const cfg = await cli(server, "config", "get", "--name", "app");
  assert.match(cfg.stdout, /greeting: hi/, "a config's values are shown");
  const del = await cli(server, "secret", "delete", "--name", "db");
  assert.notEqual(del.code, 0);
  assert.match(del.stderr, /secret "db" is used by function reader/);
});

test("no value is in the state files, the registry, the server's output or the function's log", async () => {
  const logs = await cli(server, "fn", "logs", "--name", "reader");
  assert.equal(logs.code, 0, show(logs));
  for (const f of files(server.dataDir)) {
    const raw = readFileSync(f);
    for (const v of [FIRST, SECOND]) {
      assert.equal(raw.includes(v), false, `${f} holds a secret value`);
      assert.equal(raw.includes(Buffer.from(v).toString("base64")), false, `${f} holds a value in base64`);
    }
  }
  assert.ok(
    files(server.dataDir).some((f) => f.endsWith("state.db")),
    "the SQLite state was read",
  );
  for (const out of [server.output(), logs.stdout, logs.stderr])
    assert.ok(!out.includes(FIRST) && !out.includes(SECOND), out);
});

test("specs declare configs with their values and name secrets; a Secret document is refused", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "wasmlet-specs-")), "specs");
  const ok = async (...args: string[]) => {
    const r = await cli(server, ...args);
    assert.equal(r.code, 0, show(r));
    return r.stdout;
  };
  await ok("spec", "init", "--specdir", dir, "--deployment", "values");
  const doc = (kind: string, name: string, spec: string) =>
    `apiVersion: wasmlet.dev/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
  writeFileSync(join(dir, "config-site.yaml"), doc("Config", "site", "  data:\n    greeting: from a spec\n"));
  const code = join(dir, "secrets.wasm");
  writeFileSync(code, readFileSync(fixture("secrets.wasm")));
  writeFileSync(
    join(dir, "function-spec-reader.yaml"),
    doc(
      "Function",
      "spec-reader",
      "  code: specs/secrets.wasm\n  secrets: [db]\n  configs: [site]\n  envFromSecret:\n    DB_PASSWORD: db/password\n",
    ),
  );
  const applied = await ok("spec", "apply", "--specdir", dir);
  assert.match(applied, /Config site created/);
  assert.match(applied, /Function spec-reader created/);
  const run = await cli(server, "fn", "test", "--name", "spec-reader");
  assert.equal(run.code, 0, show(run));
  assert.match(run.stdout, new RegExp(`^file: ${SECOND}\nenv: ${SECOND}\n`));
  const fn = JSON.parse(await ok("fn", "get", "--name", "spec-reader", "-o", "json"));
  assert.deepEqual(fn.envFrom, { DB_PASSWORD: { kind: "secret", name: "db", key: "password" } });
  writeFileSync(join(dir, "secret-db.yaml"), doc("Secret", "db", "  data:\n    password: nope\n"));
  const refused = await cli(server, "spec", "validate", "--specdir", dir);
  assert.notEqual(refused.code, 0);
  assert.match(
    refused.stderr + refused.stdout,
    /secret values never go into specs; create the secret with `wasmlet secret create --name db/,
  );
});

test("with router processes (--workers 2) an update reaches every one of them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-keys-"));
  const key = join(dir, "given.key");
  writeFileSync(key, "cd".repeat(32), { mode: 0o600 });
  const workers = await startServer(undefined, ["--workers", "2", "--secret-key-file", key]);
  try {
    let r = await cli(workers, "secret", "create", "--name", "db", "--from-literal", `password=${FIRST}`);
    assert.equal(r.code, 0, show(r));
    assert.throws(() => statSync(join(workers.dataDir, "secret.key")), "the given key is used, none is made");
    r = await cli(
      workers,
      "fn",
      "create",
      "--name",
      "reader",
      "--code",
      fixture("secrets.wasm"),
      "--secret",
      "db",
      "--env-from-secret",
      "DB_PASSWORD=db/password",
    );
    assert.equal(r.code, 0, show(r));
    r = await cli(workers, "route", "create", "--name", "reader", "--function", "reader", "--url", "/reader");
    assert.equal(r.code, 0, show(r));
    const burst = async () =>
      Promise.all(
        Array.from({ length: 16 }, async () => (await fetch(`${workers.routerUrl}/reader`)).text()),
      );
    await waitFor(
      async () =>
        (await burst()).every((t) =>
          t.startsWith(`file: ${FIRST}
`),
        )
          ? true
          : undefined,
      {
        ms: 10_000,
      },
    );
    r = await cli(workers, "secret", "update", "--name", "db", "--from-literal", `password=${SECOND}`);
    assert.equal(r.code, 0, show(r));
    const updatedAt = Date.now();
    // The primary tells its router processes of every change at once; their own poll (250 ms) is the fallback.
    await waitFor(
      async () =>
        (await burst()).every((t) =>
          t.startsWith(`file: ${SECOND}
env: ${SECOND}
`),
        )
          ? true
          : undefined,
      { ms: 3000, intervalMs: 20 },
    );
    assert.ok(Date.now() - updatedAt < 3000);
    assert.ok(!workers.output().includes(FIRST) && !workers.output().includes(SECOND), workers.output());
  } finally {
    await workers.stop();
  }
});

test("after a restart the server reads its key file again and the function its secret", async () => {
  await server.kill();
  server = await startServer(server.dataDir);
  const got = await waitFor(async () => {
    const r = await call("/reader");
    return r.status === 404 ? undefined : r;
  });
  assert.equal(got.status, 200, got.text);
  assert.match(got.text, new RegExp(`^file: ${SECOND}\nenv: ${SECOND}\n`));
});

test("serve refuses a key file others can read, naming it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-key-"));
  const key = join(dir, "my.key");
  writeFileSync(key, "ab".repeat(32));
  chmodSync(key, 0o640);
  await assert.rejects(startServer(undefined, ["--secret-key-file", key]), (e: Error) =>
    e.message.includes(`${key} is accessible by group or others (mode 0640); run chmod 600`),
  );
});
