import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../../core/index.js";
import { FsImage, WasiHost, type WasiHostOptions } from "./index.js";
import { runFixture } from "./test-support.js";

const enc = new TextEncoder();

function image(): { fs: FsImage; files: Map<string, Uint8Array> } {
  const files = new Map([
    ["/data/hello.txt", enc.encode("hello image")],
    ["/data/sub/deep.txt", enc.encode("deep")],
    ["/etc/config", enc.encode("cfg")],
  ]);
  return { fs: new FsImage(files), files };
}

/** Runs fsops with the given operations and returns its output lines. */
function ops(host: WasiHost, ...args: string[]): string[] {
  const r = runFixture(host, "fsops", ["/fsops.wasm", ...args]);
  assert.equal(r.exitCode, 0, r.out);
  return r.out.trimEnd().split("\n");
}

function newHost(options: WasiHostOptions = {}): WasiHost {
  return new WasiHost({ fs: image().fs, ...options });
}

// errno values wasi-libc reports (the WASI numbers).
const EEXIST = 20;
const EISDIR = 31;
const ENOENT = 44;
const ENOSPC = 51;
const ENOTDIR = 54;
const ENOTEMPTY = 55;
const ENOTCAPABLE = 76;

test("image files are readable, whole or at an offset", () => {
  const host = newHost();
  assert.deepEqual(
    ops(host, "cat", "/data/hello.txt", "cat", "data/sub/deep.txt", "pread", "/data/hello.txt", "6", "5"),
    ["cat /data/hello.txt: hello image", "cat data/sub/deep.txt: deep", "pread /data/hello.txt: image"],
  );
  assert.deepEqual(ops(host, "stat", "/data", "stat", "/data/hello.txt", "stat", "/nope"), [
    "stat /data: dir size=0",
    "stat /data/hello.txt: file size=11",
    `stat /nope: errno=${ENOENT}`,
  ]);
});

test("a file written to /tmp reads back within the invocation and is gone in the next", () => {
  const host = newHost();
  assert.deepEqual(ops(host, "write", "/tmp/x", "written", "append", "/tmp/x", "+more", "cat", "/tmp/x"), [
    "write /tmp/x: ok",
    "append /tmp/x: ok",
    "cat /tmp/x: written+more",
  ]);
  assert.deepEqual(ops(host, "cat", "/tmp/x", "ls", "/tmp"), [
    `cat /tmp/x: errno=${ENOENT}`,
    "ls /tmp: ./ ../",
  ]);
});

test("writing an image file changes this invocation's copy only", () => {
  const { fs, files } = image();
  const host = new WasiHost({ fs });
  assert.deepEqual(
    ops(host, "write", "/data/hello.txt", "changed", "cat", "/data/hello.txt", "trunc", "/etc/config", "2"),
    ["write /data/hello.txt: ok", "cat /data/hello.txt: changed", "trunc /etc/config: ok"],
  );
  assert.deepEqual(ops(host, "cat", "/data/hello.txt", "cat", "/etc/config"), [
    "cat /data/hello.txt: hello image",
    "cat /etc/config: cfg",
  ]);
  assert.equal(new TextDecoder().decode(files.get("/data/hello.txt")), "hello image");
  // Another host sharing the same image sees it untouched too.
  assert.deepEqual(ops(new WasiHost({ fs }), "cat", "/data/hello.txt"), ["cat /data/hello.txt: hello image"]);
});

test("readdir lists image and overlay entries together, with . and ..", () => {
  const host = newHost();
  assert.deepEqual(
    ops(host, "write", "/data/new.txt", "n", "mkdir", "/data/made", "ls", "/data", "ls", "/"),
    [
      "write /data/new.txt: ok",
      "mkdir /data/made: ok",
      "ls /data: ./ ../ hello.txt made/ new.txt sub/",
      "ls /: ./ ../ data/ etc/ tmp/",
    ],
  );
  assert.deepEqual(ops(host, "ls", "/data"), ["ls /data: ./ ../ hello.txt sub/"]);
});

test("many entries are listed across several fd_readdir calls (cookies)", () => {
  const files = new Map<string, Uint8Array>();
  const names: string[] = [];
  for (let i = 0; i < 300; i++) {
    const name = `file-with-a-long-name-number-${String(i).padStart(4, "0")}.txt`;
    names.push(name);
    files.set(`/many/${name}`, enc.encode(String(i)));
  }
  const host = new WasiHost({ fs: new FsImage(files) });
  assert.deepEqual(ops(host, "ls", "/many"), [`ls /many: ./ ../ ${names.join(" ")}`]);
});

test("unlink and rmdir remove entries; rmdir of a non-empty directory is ENOTEMPTY", () => {
  const host = newHost();
  assert.deepEqual(
    ops(
      host,
      "rm",
      "/data/hello.txt",
      "cat",
      "/data/hello.txt",
      "ls",
      "/data",
      "rm",
      "/data",
      "rmdir",
      "/data",
    ),
    [
      "rm /data/hello.txt: ok",
      `cat /data/hello.txt: errno=${ENOENT}`,
      "ls /data: ./ ../ sub/",
      `rm /data: errno=${EISDIR}`,
      `rmdir /data: errno=${ENOTEMPTY}`,
    ],
  );
  assert.deepEqual(ops(host, "rm", "/data/sub/deep.txt", "rmdir", "/data/sub", "ls", "/data"), [
    "rm /data/sub/deep.txt: ok",
    "rmdir /data/sub: ok",
    "ls /data: ./ ../ hello.txt",
  ]);
});

test("rename moves files and whole directory trees", () => {
  const host = newHost();
  assert.deepEqual(
    ops(
      ...[host, "mv", "/data/hello.txt", "/tmp/h.txt", "cat", "/tmp/h.txt", "cat", "/data/hello.txt"],
      ...["mv", "/data", "/tmp/d2", "cat", "/tmp/d2/sub/deep.txt", "ls", "/", "ls", "/tmp/d2"],
    ),
    [
      "mv /data/hello.txt: ok",
      "cat /tmp/h.txt: hello image",
      `cat /data/hello.txt: errno=${ENOENT}`,
      "mv /data: ok",
      "cat /tmp/d2/sub/deep.txt: deep",
      "ls /: ./ ../ etc/ tmp/",
      "ls /tmp/d2: ./ ../ sub/",
    ],
  );
  assert.deepEqual(ops(host, "mv", "/etc", "/etc/inside", "mv", "/etc/config", "/data"), [
    "mv /etc: errno=28",
    `mv /etc/config: errno=${EISDIR}`,
  ]);
});

test("O_EXCL, O_DIRECTORY and path errors follow POSIX", () => {
  const host = newHost();
  assert.deepEqual(
    ops(host, "excl", "/etc/config", "x", "mkdir", "/data", "ls", "/etc/config", "cat", "/etc/config/x"),
    [
      `excl /etc/config: errno=${EEXIST}`,
      `mkdir /data: errno=${EEXIST}`,
      `ls /etc/config: errno=${ENOTDIR}`,
      `cat /etc/config/x: errno=${ENOTDIR}`,
    ],
  );
  assert.deepEqual(ops(host, "write", "/nodir/x", "y", "mkdir", "/a/b"), [
    `write /nodir/x: errno=${ENOENT}`,
    `mkdir /a/b: errno=${ENOENT}`,
  ]);
});

test("paths cannot climb above the preopened root", () => {
  const host = newHost();
  assert.deepEqual(ops(host, "cat", "../etc/config", "cat", "/etc/../etc/config", "ls", "/data/../.."), [
    `cat ../etc/config: errno=${ENOTCAPABLE}`,
    "cat /etc/../etc/config: cfg",
    `ls /data/../..: errno=${ENOTCAPABLE}`,
  ]);
});

test("the overlay is capped (ENOSPC) and space comes back when files are removed", () => {
  const host = newHost({ overlayCapBytes: 100_000 });
  assert.deepEqual(ops(host, "fill", "/tmp/big", "150000", "rm", "/tmp/big", "fill", "/tmp/ok", "90000"), [
    `fill /tmp/big: errno=${ENOSPC}`,
    "rm /tmp/big: ok",
    "fill /tmp/ok: ok",
  ]);
  // A fresh invocation starts with the whole cap again.
  assert.deepEqual(ops(host, "fill", "/tmp/again", "90000"), ["fill /tmp/again: ok"]);
});

test("FsImage rejects paths that are not normalized absolute file paths", () => {
  for (const bad of ["data/x", "/a/../b", "/a//b", "/", "/a/"]) {
    assert.throws(
      () => new FsImage(new Map([[bad, new Uint8Array(1)]])),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && e.message.includes(bad),
      bad,
    );
  }
  assert.throws(
    () =>
      new FsImage(
        new Map([
          ["/a", new Uint8Array(1)],
          ["/a/b", new Uint8Array(1)],
        ]),
      ),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && e.message.includes('"/a"'),
  );
});

/** A host on a 1-page memory, begun, for calling imports directly. */
function direct(): { host: WasiHost; view: DataView } {
  const host = newHost({ overlayCapBytes: 100_000 });
  const memory = new WebAssembly.Memory({ initial: 1 });
  host.setMemory(memory);
  host.begin({ args: ["/x.wasm"], env: [], stdin: new Uint8Array(0) });
  return { host, view: new DataView(memory.buffer) };
}

test("fd_readdir with a cookie past the end, 2^63 and up included, lists nothing", () => {
  const { host, view } = direct();
  assert.equal(host.imports.fd_readdir(3, 1024, 4096, 0n, 0), 0);
  assert.ok(view.getUint32(0, true) > 0, "cookie 0 lists the root");
  // As wasm passes them (signed i64) and as u64 values; 2^63 - 1 does not fit a safe integer.
  for (const cookie of [5n, -1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n, 2n ** 63n - 1n]) {
    view.setUint32(0, 12345, true);
    assert.equal(host.imports.fd_readdir(3, 1024, 4096, cookie, 0), 0, String(cookie));
    assert.equal(view.getUint32(0, true), 0, `bufused for cookie ${cookie}`);
  }
});

test("fd_allocate: a negative offset or len (a u64 >= 2^63) is EINVAL, too big an end EFBIG or ENOSPC", () => {
  const { host, view } = direct();
  new Uint8Array(view.buffer).set(enc.encode("tmp/a"), 100);
  const rights = (1n << 6n) | (1n << 8n); // fd_write, fd_allocate
  assert.equal(host.imports.path_open(3, 0, 100, 5, 1, rights, 0n, 0, 0), 0);
  const fd = view.getUint32(0, true);
  const size = (): bigint => {
    assert.equal(host.imports.fd_filestat_get(fd, 200), 0);
    return view.getBigUint64(232, true);
  };
  const EINVAL = 28;
  const EFBIG = 22;
  const cases: [offset: bigint, len: bigint, errno: number][] = [
    [-10n, 20n, EINVAL],
    [2n ** 64n - 10n, 20n, EINVAL],
    [0n, -1n, EINVAL],
    [10n, 2n ** 63n, EINVAL],
    [0n, 0n, EINVAL],
    [2n ** 62n, 2n ** 62n, EFBIG],
    [2n ** 53n, 1n, EFBIG],
    [0n, 200_000n, ENOSPC],
  ];
  for (const [offset, len, errno] of cases) {
    assert.equal(host.imports.fd_allocate(fd, offset, len), errno, `fd_allocate(${offset}, ${len})`);
    assert.equal(size(), 0n, `size after fd_allocate(${offset}, ${len})`);
  }
  assert.equal(host.imports.fd_allocate(fd, 10n, 20n), 0);
  assert.equal(size(), 30n);
});
