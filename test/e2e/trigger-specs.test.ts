// TimeTrigger and MessageQueueTrigger as declarative specs: written by --spec, applied, updated, destroyed.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ApiClient } from "../../src/client/index.js";
import { cli, example, type Server, show, startServer } from "./harness.js";

let server: Server;
let api: ApiClient;
let root: string;
before(async () => {
  server = await startServer();
  api = new ApiClient({ server: server.controlUrl });
  root = mkdtempSync(join(tmpdir(), "wasmlet-trigger-specs-"));
});
after(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

test("timer and mqt --spec write specs that apply, re-apply as unchanged, update in place and destroy", async () => {
  const r0 = await cli(server, "fn", "create", "--name", "seed", "--code", example("hello/hello.wasm"));
  assert.equal(r0.code, 0, show(r0));
  const image = (await api.getFunction("seed")).current.image;
  const dir = join(root, "specs");
  const run = async (...args: string[]) => {
    const r = await cli(server, ...args);
    assert.equal(r.code, 0, show(r));
    return r.stdout;
  };
  await run("spec", "init", "--specdir", dir, "--deployment", "events");
  writeFileSync(
    join(dir, "function-hello.yaml"),
    `apiVersion: wasmlet.dev/v1\nkind: Function\nmetadata:\n  name: hello\nspec:\n  image: ${image}\n`,
  );
  assert.match(
    await run(
      "timer",
      "create",
      "--name",
      "nightly",
      "--function",
      "hello",
      "--cron",
      "@daily",
      "--spec",
      "--specdir",
      dir,
    ),
    /wrote .*timer-nightly\.yaml/,
  );
  assert.match(
    await run(
      ...["mqt", "create", "--name", "orders", "--function", "hello", "--topic", "orders.in"],
      ...["--errortopic", "orders.err", "--spec", "--specdir", dir],
    ),
    /wrote .*mqt-orders\.yaml/,
  );
  await run("spec", "validate", "--specdir", dir);
  const applied = await run("spec", "apply", "--specdir", dir);
  assert.match(applied, /TimeTrigger nightly created/);
  assert.match(applied, /MessageQueueTrigger orders created/);
  const t = await api.getTimeTrigger("nightly");
  assert.equal(t.cron, "@daily");
  assert.equal(t.function, "hello");
  assert.ok(t.status?.nextFire, "armed by the server's scheduler");
  assert.equal((await api.getMqTrigger("orders")).errorTopic, "orders.err");
  assert.match(await run("spec", "apply", "--specdir", dir), /nothing changed/);

  // Changed specs update the triggers in place; a field removed from the spec is removed on the server.
  await run(
    "timer",
    "create",
    "--name",
    "nightly",
    "--function",
    "hello",
    "--cron",
    "@hourly",
    "--spec",
    "--specdir",
    dir,
  );
  await run(
    "mqt",
    "create",
    "--name",
    "orders",
    "--function",
    "hello",
    "--topic",
    "orders.in",
    "--spec",
    "--specdir",
    dir,
  );
  const again = await run("spec", "apply", "--specdir", dir);
  assert.match(again, /TimeTrigger nightly updated/);
  assert.match(again, /MessageQueueTrigger orders updated/);
  assert.equal((await api.getTimeTrigger("nightly")).cron, "@hourly");
  assert.equal((await api.getMqTrigger("orders")).errorTopic, undefined);

  // A bad schedule is refused by the server, naming the file's resource and the field.
  await run(
    "timer",
    "create",
    "--name",
    "nightly",
    "--function",
    "hello",
    "--cron",
    "0 0 0 1 1 * 2031",
    "--spec",
    "--specdir",
    dir,
  );
  const bad = await cli(server, "spec", "apply", "--specdir", dir);
  assert.equal(bad.code, 1, show(bad));
  assert.match(bad.stderr, /cron: .*7 fields/);

  const destroyed = await run("spec", "destroy", "--specdir", dir);
  assert.match(destroyed, /TimeTrigger nightly deleted/);
  assert.match(destroyed, /MessageQueueTrigger orders deleted/);
  assert.deepEqual(await api.listTimeTriggers(), []);
  assert.deepEqual(await api.listMqTriggers(), []);
});
