import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiClient } from "../client/index.js";
import { isWasmletError } from "../core/index.js";
import { openSecret } from "../secrets/index.js";
import { b64, type ControlPort, call, commandModule, startControlPort } from "./test-support.js";

const PASSWORD = "hunter2-Zq8vR7xK";
const TOKEN = "tok-9f3e1c2b7a";

let cp: ControlPort;
let api: ApiClient;
before(async () => {
  cp = await startControlPort();
  api = new ApiClient({ server: cp.url });
});
after(() => cp.close());

describe("secrets", () => {
  test("create, get and list show names and keys, never a value; the store holds only ciphertext", async () => {
    const created = await api.createSecret({ name: "db", data: { password: PASSWORD, user: "app" } });
    assert.deepEqual(created.keys, ["password", "user"]);
    const answers = [
      created,
      await api.getSecret("db"),
      await api.listSecrets(),
      (await call(cp.url, "GET", "/api/v1/secrets/db")).json,
    ];
    for (const a of answers) {
      const text = JSON.stringify(a);
      assert.ok(text.includes("password"), text);
      assert.ok(!text.includes(PASSWORD) && !text.includes('app"'), `a value leaked: ${text}`);
    }
    const stored = await cp.store.get("secret", "db");
    assert.ok(stored);
    const raw = JSON.stringify(stored);
    assert.ok(!raw.includes(PASSWORD), raw);
    assert.ok(!raw.includes(Buffer.from(PASSWORD).toString("base64")), raw);
    assert.equal(stored.sealed.alg, "aes-256-gcm");
    assert.deepEqual(openSecret(cp.secretKey, stored), { password: PASSWORD, user: "app" });
  });

  test("update merges keys, removes keys and replaces the set; a copied ciphertext does not open", async () => {
    await api.createSecret({ name: "api", data: { token: TOKEN } });
    let s = await api.updateSecret("api", { data: { extra: "x" } });
    assert.deepEqual(s.keys, ["extra", "token"]);
    s = await api.updateSecret("api", { removeKeys: ["extra"] });
    assert.deepEqual(s.keys, ["token"]);
    s = await api.updateSecret("api", { data: { other: "y" }, replace: true });
    assert.deepEqual(s.keys, ["other"]);
    await assert.rejects(
      api.updateSecret("api", { removeKeys: ["nope"] }),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && /no key "nope"/.test(e.message),
    );
    // The ciphertext is bound to the secret's name: moved onto another secret it does not open.
    const db = await cp.store.get("secret", "db");
    const moved = { ...(await cp.store.get("secret", "api"))!, sealed: db!.sealed };
    assert.throws(() => openSecret(cp.secretKey, moved), /secret "api".*authentication failed/);
  });

  test("bad input is refused naming the field, and the value is not echoed", async () => {
    const bad = await call(cp.url, "POST", "/api/v1/secrets", { name: "x", data: { "a/b": PASSWORD } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error!.message, /data.a\/b: key "a\/b": must be 1-253 characters/);
    assert.ok(!JSON.stringify(bad.json).includes(PASSWORD));
    const broken = await call(cp.url, "POST", "/api/v1/secrets", `{"name":"x","data":{"k":"${PASSWORD}"`);
    assert.equal(broken.status, 400);
    assert.equal(broken.json.error!.message, "body: not valid JSON");
    const typed = await call(cp.url, "POST", "/api/v1/secrets", { name: "x", data: { k: 42 } });
    assert.equal(typed.status, 400);
    assert.match(typed.json.error!.message, /data\.k: must be a string/);
    await assert.rejects(
      api.createSecret({ name: "db", data: { a: "b" } }),
      (e) => isWasmletError(e, "ALREADY_EXISTS") && /secret "db" already exists/.test(e.message),
    );
    await assert.rejects(api.getSecret("nope"), (e) => isWasmletError(e, "NOT_FOUND"));
  });
});

describe("configs", () => {
  test("get shows values and which functions use it; update reaches the store", async () => {
    await api.createConfig({ name: "app", data: { greeting: "hello" } });
    assert.deepEqual((await api.getConfig("app")).data, { greeting: "hello" });
    await api.updateConfig("app", { data: { greeting: "hi", lang: "en" } });
    const got = await api.getConfig("app");
    assert.deepEqual(got.data, { greeting: "hi", lang: "en" });
    assert.deepEqual(got.usedBy, []);
    assert.deepEqual(
      (await api.listConfigs()).map((c) => c.name),
      ["app"],
    );
  });
});

describe("functions that use secrets and configs", () => {
  test("create is refused naming a missing secret, config or key", async () => {
    const code = b64(commandModule("values"));
    await assert.rejects(
      api.createFunction({ name: "f1", code, secrets: ["missing"] }),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && /secrets: secret "missing" not found/.test(e.message),
    );
    await assert.rejects(
      api.createFunction({ name: "f1", code, configs: ["gone"] }),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && /configs: config "gone" not found/.test(e.message),
    );
    await assert.rejects(
      api.createFunction({
        name: "f1",
        code,
        envFrom: { PW: { kind: "secret", name: "db", key: "passwd" } },
      }),
      (e) =>
        isWasmletError(e, "INVALID_ARGUMENT") &&
        /envFrom.PW: secret "db" has no key "passwd"/.test(e.message),
    );
    assert.equal(await cp.store.get("function", "f1"), undefined, "nothing stored");
  });

  test("a secret or config in use cannot be deleted, nor a key a variable takes; freed, it can", async () => {
    const fn = await api.createFunction({
      name: "uses",
      code: b64(commandModule("uses")),
      secrets: ["db"],
      configs: ["app"],
      envFrom: { DB_PASSWORD: { kind: "secret", name: "db", key: "password" } },
    });
    assert.deepEqual(fn.secrets, ["db"]);
    assert.deepEqual((await api.getSecret("db")).usedBy, ["uses"]);
    await assert.rejects(
      api.deleteSecret("db"),
      (e) => isWasmletError(e, "CONFLICT") && /secret "db" is used by function uses/.test(e.message),
    );
    await assert.rejects(
      api.deleteConfig("app"),
      (e) => isWasmletError(e, "CONFLICT") && /config "app" is used by function uses/.test(e.message),
    );
    await assert.rejects(
      api.updateSecret("db", { removeKeys: ["password"] }),
      (e) => isWasmletError(e, "CONFLICT") && /takes key "password" into DB_PASSWORD/.test(e.message),
    );
    const freed = await api.updateFunction("uses", { secrets: [], configs: [], envFrom: {} });
    assert.equal(freed.secrets, undefined);
    assert.equal(freed.envFrom, undefined);
    assert.equal(freed.current.version, 1, "no new version");
    await api.deleteSecret("db");
    await api.deleteConfig("app");
    await assert.rejects(api.getSecret("db"), (e) => isWasmletError(e, "NOT_FOUND"));
  });

  test("a secret and a config of one name, or a variable set twice, are refused", async () => {
    await api.createSecret({ name: "same", data: { a: "1" } });
    await api.createConfig({ name: "same", data: { a: "2" } });
    await assert.rejects(
      api.createFunction({
        name: "f2",
        code: b64(commandModule("f2")),
        secrets: ["same"],
        configs: ["same"],
      }),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && /"same" is also a config/.test(e.message),
    );
    await assert.rejects(
      api.createFunction({
        name: "f2",
        code: b64(commandModule("f2")),
        env: { A: "x" },
        envFrom: { A: { kind: "config", name: "same", key: "a" } },
      }),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && /envFrom.A: is also set in env/.test(e.message),
    );
  });
});
