import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiClient } from "../client/index.js";
import { isWasmletError } from "../core/index.js";
import { b64, type ControlPort, call, commandModule, startControlPort } from "./test-support.js";

let cp: ControlPort;
let api: ApiClient;
before(async () => {
  cp = await startControlPort();
  api = new ApiClient({ server: cp.url });
  await api.createFunction({ name: "job", code: b64(commandModule("job")) });
  await api.createFunction({ name: "other", code: b64(commandModule("other")) });
});
after(() => cp.close());

describe("time triggers", () => {
  test("create (defaults POST /), get, list, update, delete; stored with the change feed", async () => {
    const head = await cp.store.head();
    const t = await api.createTimeTrigger({ name: "nightly", function: "job", cron: " @daily " });
    assert.equal(t.method, "POST");
    assert.equal(t.subpath, "/");
    assert.equal(t.cron, "@daily");
    assert.equal(t.body, undefined);
    assert.deepEqual(await api.getTimeTrigger("nightly"), t);
    await api.createTimeTrigger({
      name: "a-every",
      function: "other",
      cron: "@every 1m30s",
      method: "GET",
      body: "x",
    });
    assert.deepEqual(
      (await api.listTimeTriggers()).map((x) => x.name),
      ["a-every", "nightly"],
    );
    const u = await api.updateTimeTrigger("nightly", {
      cron: "*/10 * * * * *",
      function: "other",
      subpath: "/run?full=1",
    });
    assert.equal(u.cron, "*/10 * * * * *");
    assert.equal(u.function, "other");
    assert.equal(u.subpath, "/run?full=1");
    assert.equal(u.method, "POST", "fields not given are kept");
    assert.equal(
      (await api.updateTimeTrigger("a-every", { body: "" })).body,
      undefined,
      '"" removes the body',
    );
    await api.deleteTimeTrigger("nightly");
    await assert.rejects(
      api.getTimeTrigger("nightly"),
      (e) => isWasmletError(e, "NOT_FOUND") && /"nightly"/.test(e.message),
    );
    const kinds = (await cp.store.changes(head)).map((c) => `${c.op} ${c.kind} ${c.name}`);
    assert.deepEqual(kinds, [
      "create timetrigger nightly",
      "create timetrigger a-every",
      "update timetrigger nightly",
      "update timetrigger a-every",
      "delete timetrigger nightly",
    ]);
    await api.deleteTimeTrigger("a-every");
  });

  const refused: [string, Record<string, unknown>, RegExp, number][] = [
    ["7 fields", { cron: "0 0 0 1 1 * 2031" }, /^cron: .*7 fields/, 400],
    ["nonsense", { cron: "every day please" }, /^cron: .*not a valid schedule/, 400],
    ["a schedule that never fires", { cron: "0 0 31 2 *" }, /^cron: .*never fires/, 400],
    [
      "an unknown function",
      { cron: "@hourly", function: "nope" },
      /^function: function "nope" not found/,
      404,
    ],
    ["a bad method", { cron: "@hourly", method: "FETCH" }, /^method: must be one of GET/, 400],
    ["a relative subpath", { cron: "@hourly", subpath: "run" }, /^subpath: must start with "\/"/, 400],
    ["no cron", {}, /^cron: is required/, 400],
  ];
  for (const [what, fields, message, status] of refused)
    test(`create refuses ${what}, naming the field, and stores nothing`, async () => {
      const r = await call(cp.url, "POST", "/api/v1/triggers/time", {
        name: "bad",
        function: "job",
        ...fields,
      });
      assert.equal(r.status, status);
      assert.match(r.json.error?.message ?? "", message);
      assert.equal(await cp.store.get("timetrigger", "bad"), undefined);
    });

  test("update refuses a bad cron and keeps the old one; 404 for an unknown timer", async () => {
    await api.createTimeTrigger({ name: "keep", function: "job", cron: "@hourly" });
    await assert.rejects(
      api.updateTimeTrigger("keep", { cron: "* * *" }),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && /^cron: /.test(e.message),
    );
    assert.equal((await api.getTimeTrigger("keep")).cron, "@hourly");
    await assert.rejects(api.updateTimeTrigger("ghost", { cron: "@daily" }), (e) =>
      isWasmletError(e, "NOT_FOUND"),
    );
    await api.deleteTimeTrigger("keep");
  });

  test("schedule lists the next fire times, and refuses bad input", async () => {
    const s = await api.schedule("@every 1m30s", 3);
    assert.equal(s.fires.length, 3);
    const ms = s.fires.map((f) => Date.parse(f));
    for (const m of ms) assert.equal(m % 90_000, 0);
    assert.equal(ms[1] - ms[0], 90_000);
    assert.ok(ms[0] > Date.parse(s.now));
    await assert.rejects(
      api.schedule("* * * * * * *", 1),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && /^cron: .*7 fields/.test(e.message),
    );
    await assert.rejects(
      api.schedule("@hourly", 101),
      (e) => isWasmletError(e) && /^round: "101" is not a whole number from 1 to 100/.test(e.message),
    );
  });
});
