import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_LIMITS, type FunctionRecord, type FunctionValues, isWasmletError } from "../core/index.js";
import { MemoryStore } from "../store/index.js";
import { SecretKey } from "./crypto.js";
import { sealSecret, ValueResolver } from "./values.js";

const key = new SecretKey(join(mkdtempSync(join(tmpdir(), "wasmlet-values-")), "k"), { create: true });
const now = "2026-01-01T00:00:00.000Z";
const fn: FunctionRecord = {
  name: "f",
  contract: "command",
  args: [],
  env: { PLAIN: "1" },
  limits: { ...DEFAULT_LIMITS },
  secrets: ["db"],
  configs: ["app"],
  envFrom: { PW: { kind: "secret", name: "db", key: "password" } },
  current: { version: 1, image: "x", digest: `sha256:${"0".repeat(64)}`, createdAt: now },
  versions: [],
  createdAt: now,
  updatedAt: now,
};
const secret = (password: string) => ({
  name: "db",
  ...sealSecret(key, "db", { password }),
  createdAt: now,
  updatedAt: now,
});
const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString();

test("a function's values come from the store, from memory while nothing changes, anew after a change", async () => {
  const store = new MemoryStore();
  await store.create("secret", "db", secret("one"));
  await store.create("config", "app", {
    name: "app",
    data: { greeting: "hi" },
    createdAt: now,
    updatedAt: now,
  });
  const resolver = new ValueResolver(store, key);
  resolver.start();
  const first = (await resolver.resolve(fn)) as FunctionValues;
  assert.deepEqual(first.fn.env, { PLAIN: "1", PW: "one" });
  assert.equal(text(first.mounts.get("/secrets/db")?.get("password")), "one");
  assert.equal(text(first.mounts.get("/configs/app")?.get("greeting")), "hi");
  assert.deepEqual(first.config, [
    ["app/greeting", "hi"],
    ["db/password", "one"],
  ]);
  assert.equal(resolver.resolve(fn), first, "the same answer, synchronously");
  assert.equal(resolver.resolve({ ...fn }), first, "a copy of the record read again (same updatedAt) too");
  await store.update("secret", "db", secret("two"));
  const second = await resolver.resolve(fn);
  assert.equal(second.fn.env.PW, "two");
  assert.equal(text(second.mounts.get("/secrets/db")?.get("password")), "two");
  await store.delete("secret", "db");
  await assert.rejects(
    Promise.resolve(resolver.resolve(fn)),
    (e) => isWasmletError(e, "FUNCTION_FAILED") && /function f: secret "db" not found/.test(e.message),
  );
  resolver.stop();
});

test("a process without the key fails such a function, naming the reason", async () => {
  const store = new MemoryStore();
  await store.create("secret", "db", secret("x"));
  await store.create("config", "app", { name: "app", data: {}, createdAt: now, updatedAt: now });
  const resolver = new ValueResolver(store, undefined);
  await assert.rejects(Promise.resolve(resolver.resolve(fn)), /this server has no secret key/);
});
