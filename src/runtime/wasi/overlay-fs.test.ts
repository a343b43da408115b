import assert from "node:assert/strict";
import { test } from "node:test";
import { ERRNO } from "./constants.js";
import { FsImage } from "./fs-image.js";
import { FileNode, OverlayFs } from "./overlay-fs.js";

const enc = new TextEncoder();
const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);

test("an unlinked file still open keeps counting against the cap until its last close", () => {
  const fs = new OverlayFs(new FsImage(new Map()), 100);
  const f = fs.createFile("/tmp/f");
  f.opens++;
  assert.equal(fs.write(f, 0, bytes(80), 0, 80), ERRNO.SUCCESS);
  fs.remove("/tmp/f");
  assert.equal(fs.lookup("/tmp/f"), null);
  const g = fs.createFile("/tmp/g");
  assert.equal(fs.write(g, 0, bytes(30), 0, 30), ERRNO.NOSPC, "f's bytes are still held");
  fs.closed(f);
  assert.equal(fs.write(g, 0, bytes(30), 0, 30), ERRNO.SUCCESS, "closing f freed them");
});

test("the first write to an image file copies it; the image's bytes never change", () => {
  const data = enc.encode("0123456789");
  const image = new FsImage(new Map([["/d/f", data]]));
  const fs = new OverlayFs(image, 1000);
  const node = fs.lookup("/d/f");
  assert.ok(node !== null && node.kind === 4);
  const file = fs.fileNode("/d/f", node);
  assert.equal(file.data, data, "opening shares the image's bytes");
  assert.equal(fs.write(file, 12, enc.encode("xy"), 0, 2), ERRNO.SUCCESS);
  assert.equal(new TextDecoder().decode(data), "0123456789");
  assert.deepEqual(
    [...file.data.subarray(0, file.size)],
    [...enc.encode("0123456789"), 0, 0, ...enc.encode("xy")],
  );
  fs.reset();
  const again = fs.lookup("/d/f");
  assert.ok(
    again !== null && !(again instanceof FileNode) && again.size === 10,
    "reset() restores the image",
  );
});

test("renaming a directory moves its subtree and leaves nothing behind", () => {
  const image = new FsImage(
    new Map([
      ["/a/x", enc.encode("x")],
      ["/a/b/y", enc.encode("y")],
    ]),
  );
  const fs = new OverlayFs(image, 1000);
  fs.createFile("/a/b/z");
  fs.rename("/a", "/c");
  assert.deepEqual(fs.list("/"), ["c", "tmp"]);
  assert.deepEqual(fs.list("/c"), ["b", "x"]);
  assert.deepEqual(fs.list("/c/b"), ["y", "z"]);
  assert.equal(fs.lookup("/a/b/y"), null);
  assert.equal(fs.lookup("/c/b/y")?.size, 1);
});
