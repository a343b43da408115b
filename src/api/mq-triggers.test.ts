import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ApiClient } from "../client/index.js";
import { isWasmletError } from "../core/index.js";
import { b64, type ControlPort, call, commandModule, startControlPort } from "./test-support.js";

let cp: ControlPort;
let api: ApiClient;
before(async () => {
  cp = await startControlPort();
  api = new ApiClient({ server: cp.url });
  await api.createFunction({ name: "job", code: b64(commandModule("job")) });
});
after(() => cp.close());

test('message queue triggers: defaults, update ("" removes a topic), delete; bad fields named', async () => {
  const t = await api.createMqTrigger({
    name: "orders",
    function: "job",
    topic: "orders.new",
    respTopic: "orders.done",
  });
  assert.equal(t.mqtype, "nats");
  assert.equal(t.maxRetries, 3);
  assert.equal(t.contentType, "application/json");
  assert.equal(t.errorTopic, undefined);
  const u = await api.updateMqTrigger("orders", { respTopic: "", errorTopic: "orders.dead", maxRetries: 0 });
  assert.equal(u.respTopic, undefined);
  assert.equal(u.errorTopic, "orders.dead");
  assert.equal(u.maxRetries, 0);
  assert.equal(u.topic, "orders.new");
  await assert.rejects(
    api.updateMqTrigger("orders", { topic: "orders.dead" }),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && /^errorTopic: must differ from topic/.test(e.message),
  );
  assert.deepEqual(
    (await api.listMqTriggers()).map((x) => x.name),
    ["orders"],
  );
  await api.deleteMqTrigger("orders");
  await assert.rejects(api.getMqTrigger("orders"), (e) => isWasmletError(e, "NOT_FOUND"));

  for (const [body, why, status] of [
    [{ topic: "orders.*" }, /^topic: must be a subject .*no wildcards/, 400],
    [{ topic: "a", maxRetries: 101 }, /^maxRetries: must be a whole number from 0 to 100/, 400],
    [{ topic: "a", contentType: "json" }, /^contentType: must be a media type/, 400],
    [{ topic: "a", function: "nope" }, /^function: function "nope" not found/, 404],
    [{}, /^topic: is required/, 400],
  ] as const) {
    const r = await call(cp.url, "POST", "/api/v1/triggers/mq", { name: "bad", function: "job", ...body });
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(r.json.error?.message ?? "", why);
  }
  assert.equal(await cp.store.get("mqtrigger", "bad"), undefined);
});
