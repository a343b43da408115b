import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SecretKey } from "./crypto.js";

const dir = () => mkdtempSync(join(tmpdir(), "wasmlet-key-"));

describe("SecretKey", () => {
  test("creates a missing key file with mode 0600 on first use, and reads it back in another instance", () => {
    const path = join(dir(), "secret.key");
    const key = new SecretKey(path, { create: true });
    const sealed = key.seal(Buffer.from("s3cret"), 'secret "db"');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(!sealed.data.includes(Buffer.from("s3cret").toString("base64")));
    const again = new SecretKey(path);
    assert.equal(again.open(sealed, 'secret "db"').toString(), "s3cret");
    assert.throws(
      () => again.open(sealed, 'secret "other"'),
      /secret "other": its encrypted data is damaged/,
    );
  });

  test("refuses a key file group or others can read, naming the file and the fix", () => {
    const path = join(dir(), "k");
    writeFileSync(path, "a".repeat(64), { mode: 0o644 });
    chmodSync(path, 0o644);
    assert.throws(
      () => new SecretKey(path).load(),
      (e: Error) => e.message.includes(`${path} is accessible by group or others (mode 0644); run chmod 600`),
    );
  });

  test("a missing file without create, or one that holds no 32-byte key, is refused", () => {
    const d = dir();
    assert.throws(() => new SecretKey(join(d, "none")).load(), /secret key file .*none: ENOENT/);
    const short = join(d, "short");
    writeFileSync(short, "abcd", { mode: 0o600 });
    assert.throws(() => new SecretKey(short).load(), /must hold a 32-byte key/);
  });

  test("hex and base64 key files are the same key; a value sealed by another key names both key ids", () => {
    const d = dir();
    const bytes = Buffer.alloc(32, 7);
    writeFileSync(join(d, "hex"), `${bytes.toString("hex")}\n`, { mode: 0o600 });
    writeFileSync(join(d, "b64"), bytes.toString("base64"), { mode: 0o600 });
    writeFileSync(join(d, "other"), Buffer.alloc(32, 8), { mode: 0o600 });
    const sealed = new SecretKey(join(d, "hex")).seal(Buffer.from("v"), "c");
    assert.equal(new SecretKey(join(d, "b64")).open(sealed, "c").toString(), "v");
    assert.throws(
      () => new SecretKey(join(d, "other")).open(sealed, "c"),
      /encrypted with another secret key \(id [0-9a-f]{16}/,
    );
    assert.match(readFileSync(join(d, "hex"), "utf8"), /^[0-9a-f]{64}\n$/);
  });
});
