import assert from "node:assert/strict";
import { test } from "node:test";
import { FILETYPE_DIRECTORY } from "./constants.js";
import { FsImage } from "./fs-image.js";
import { MountLayer } from "./mounts.js";
import { OverlayFs } from "./overlay-fs.js";

const bytes = (s: string) => new TextEncoder().encode(s);

test("a mount hides the image below it, merges with the directories above, and is read-only", () => {
  const image = new FsImage(
    new Map([
      ["/secrets/db/stale", bytes("image's")],
      ["/secrets/readme", bytes("r")],
      ["/app.wasm", bytes("w")],
    ]),
  );
  const layer = new MountLayer(new Map([["/secrets/db", new Map([["password", bytes("pw")]])]]), image);
  const fs = new OverlayFs(image, 1024, layer);
  const pw = fs.lookup("/secrets/db/password");
  assert.ok(pw && "data" in pw);
  assert.equal(Buffer.from(pw.data).toString(), "pw");
  assert.equal(fs.lookup("/secrets/db/stale"), null, "hidden by the mount");
  assert.deepEqual(fs.list("/secrets/db"), ["password"]);
  assert.deepEqual(fs.list("/secrets"), ["db", "readme"]);
  assert.equal(fs.lookup("/secrets")?.kind, FILETYPE_DIRECTORY);
  for (const p of ["/secrets/db/password", "/secrets/db/new", "/secrets/db", "/secrets/x"])
    assert.equal(fs.readOnly(p), true, p);
  for (const p of ["/tmp/x", "/app.wasm", "/", "/secretsx"]) assert.equal(fs.readOnly(p), false, p);
  // New nodes never reuse the layer's inode numbers.
  const made = fs.createFile("/tmp/x");
  assert.ok(made.ino > layer.maxIno);
  // A reset to no mounts shows the image again.
  fs.reset(null);
  assert.deepEqual(fs.list("/secrets/db"), ["stale"]);
  assert.equal(fs.readOnly("/secrets/db/password"), false);
});
