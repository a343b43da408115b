import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { commandModule, startServer, type TestServer, wasmlet } from "./test-support.js";

const VALUE = "v4lue-Kp3Jw9";

let srv: TestServer;
let S: string[];
before(async () => {
  srv = await startServer();
  S = ["--server", srv.url];
});
after(() => srv.close());

test("secret create/update/get/list/delete: keys are printed, values never", async () => {
  const file = await srv.file("cert.pem", Buffer.from(`-----BEGIN ${VALUE}-----\n`));
  let r = await wasmlet([
    ...S,
    ...["secret", "create", "--name", "db", "--from-literal", `password=${VALUE}`, "--from-file", file],
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'secret "db" created with keys cert.pem, password\n');
  r = await wasmlet([...S, "secret", "update", "--name", "db", "--remove-key", "cert.pem"]);
  assert.equal(r.stdout, 'secret "db" updated: keys password\n');
  for (const args of [
    ["secret", "get", "--name", "db"],
    ["secret", "get", "--name", "db", "-o", "json"],
    ["secret", "list"],
  ]) {
    r = await wasmlet([...S, ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /password/);
    assert.ok(!r.stdout.includes(VALUE), r.stdout);
  }
  r = await wasmlet([...S, "secret", "delete", "--name", "db"]);
  assert.equal(r.stdout, 'secret "db" deleted\n');
});

test("bad values are refused before anything is sent, without echoing them", async () => {
  const binary = await srv.file("key.der", Buffer.from([0x30, 0x82, 0xff, 0xfe]));
  let r = await wasmlet([...S, "secret", "create", "--name", "bin", "--from-file", `key=${binary}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--from-file: .*key\.der is not UTF-8 text/);
  r = await wasmlet([...S, "secret", "create", "--name", "x", "--from-literal", VALUE]);
  assert.match(r.stderr, /--from-literal: must look like KEY=VALUE/);
  assert.ok(!r.stderr.includes(VALUE));
  r = await wasmlet([...S, "config", "create", "--name", "x"]);
  assert.match(r.stderr, /give at least one --from-literal or --from-file/);
  r = await wasmlet([...S, "fn", "update", "--name", "f", "--env-from-secret", "V=nokey"]);
  assert.match(r.stderr, /--env-from-secret: "V=nokey" must look like VAR=NAME\/KEY/);
});

test("fn create --secret/--config/--env-from-*, and --spec writes the references", async () => {
  let r = await wasmlet([...S, "config", "create", "--name", "app", "--from-literal", "greeting=hi"]);
  assert.equal(r.code, 0, r.stderr);
  r = await wasmlet([...S, "secret", "create", "--name", "db", "--from-literal", `password=${VALUE}`]);
  const code = await srv.file("f.wasm", commandModule("values-cli"));
  const refs = [
    ...["--secret", "db", "--config", "app"],
    ...["--env-from-secret", "PW=db/password", "--env-from-config", "GREETING=app/greeting"],
  ];
  r = await wasmlet([...S, "fn", "create", "--name", "f", "--code", code, ...refs]);
  assert.equal(r.code, 0, r.stderr);
  const fn = await srv.api.getFunction("f");
  assert.deepEqual(fn.secrets, ["db"]);
  assert.deepEqual(fn.envFrom, {
    PW: { kind: "secret", name: "db", key: "password" },
    GREETING: { kind: "config", name: "app", key: "greeting" },
  });
  r = await wasmlet([...S, "fn", "update", "--name", "f", "--secret", "", "--env-from-secret", ""]);
  assert.equal(r.code, 0, r.stderr);
  const after = await srv.api.getFunction("f");
  assert.equal(after.secrets, undefined);
  assert.equal(after.envFrom, undefined);
  assert.deepEqual(after.configs, ["app"], "what is not given stays");
  const specdir = join(srv.dir, "specs");
  r = await wasmlet([
    ...S,
    "fn",
    "create",
    "--name",
    "g",
    "--code",
    code,
    ...refs,
    "--spec",
    "--specdir",
    specdir,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const yaml = readFileSync(join(specdir, "function-g.yaml"), "utf8");
  assert.match(yaml, /secrets:\n {4}- db\n/);
  assert.match(yaml, /envFromSecret:\n {4}PW: db\/password\n/);
  assert.match(yaml, /envFromConfig:\n {4}GREETING: app\/greeting\n/);
  assert.ok(!yaml.includes(VALUE));
});
