import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { parseEtcdUrl, redact } from "./etcd-url.js";

test("etcd URLs: hosts, default port, credentials, prefix, https with TLS", () => {
  assert.deepEqual(parseEtcdUrl("etcd://h1:2379,h2"), {
    endpoints: ["http://h1:2379", "http://h2:2379"],
    tls: undefined,
    auth: undefined,
    prefix: undefined,
  });
  const c = parseEtcdUrl("etcd://root:p%40ss@10.0.0.1:3000/team-a", { tls: { ca: "CA" } });
  assert.deepEqual(c.endpoints, ["https://10.0.0.1:3000"]);
  assert.deepEqual(c.auth, { username: "root", password: "p@ss" });
  assert.equal(c.prefix, "/team-a/");
});

test("etcd URLs: bad ones are INVALID_ARGUMENT naming the problem, without the password", () => {
  for (const [url, why] of [
    ["http://h:2379", "not an etcd:// URL"],
    ["etcd://h:99999", "out of range"],
    ["etcd://h:x", "is not host[:port]"],
    ["etcd://user@h", "user:password"],
  ]) {
    assert.throws(
      () => parseEtcdUrl(url),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && e.message.includes(why),
      url,
    );
  }
  assert.throws(
    () => parseEtcdUrl("etcd://u:secret@h", { auth: { username: "a", password: "b" } }),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && !e.message.includes("secret"),
  );
  assert.equal(redact("etcd://u:secret@h"), "etcd://u:***@h");
});
