// Preopens, rights, symlinks, hard links, times and sockets, called as a guest calls them (wasi-testsuite's
// expectations, each checked on its own).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ERRNO,
  LOOKUPFLAGS_SYMLINK_FOLLOW,
  OFLAGS_CREAT,
  OFLAGS_DIRECTORY,
  OFLAGS_TRUNC,
  RIGHT_FD_READ,
  RIGHT_FD_SEEK,
  RIGHT_FD_WRITE,
  RIGHT_PATH_FILESTAT_SET_SIZE,
  RIGHTS_ALL,
} from "./constants.js";
import { FsImage, type FsImageExtras, WasiHost } from "./index.js";

const enc = new TextEncoder();
const FSTFLAGS_MTIM = 4;
const FSTFLAGS_MTIM_NOW = 8;
const FSTFLAGS_ATIM = 1;
const FSTFLAGS_ATIM_NOW = 2;

/** A host on a fresh 1-page memory, begun, with helpers that lay arguments out in that memory. */
function guest(
  files: Record<string, string> = {},
  extras: FsImageExtras = {},
  collect?: string,
  fs?: FsImage,
) {
  const image = fs ?? new FsImage(new Map(Object.entries(files).map(([p, s]) => [p, enc.encode(s)])), extras);
  const host = new WasiHost({ fs: image });
  const memory = new WebAssembly.Memory({ initial: 1 });
  host.setMemory(memory);
  host.begin({ args: [], env: [], stdin: new Uint8Array(0), collect });
  const u8 = new Uint8Array(memory.buffer);
  const dv = new DataView(memory.buffer);
  const w = host.imports;
  const OUT = 16;
  const BUF = 4096;
  const str = (s: string, at = 1024): [number, number] => {
    const b = enc.encode(s);
    u8.set(b, at);
    return [at, b.length];
  };
  const str2 = (s: string): [number, number] => str(s, 2048);
  return {
    host,
    w,
    u8,
    dv,
    /** path_open; [errno, fd]. */
    open(
      dir: number,
      path: string,
      o: { lookup?: number; oflags?: number; base?: bigint; fdflags?: number } = {},
    ) {
      const errno = w.path_open(
        dir,
        o.lookup ?? 0,
        ...str(path),
        o.oflags ?? 0,
        o.base ?? RIGHTS_ALL,
        RIGHTS_ALL,
        o.fdflags ?? 0,
        OUT,
      );
      return [errno, dv.getUint32(OUT, true)] as const;
    },
    /** fd_fdstat_get: [errno, filetype, rights base]. */
    fdstat(fd: number) {
      const errno = w.fd_fdstat_get(fd, OUT);
      return [
        errno,
        dv.getUint8(OUT),
        dv.getBigUint64(OUT + 8, true),
        dv.getBigUint64(OUT + 16, true),
      ] as const;
    },
    /** path_filestat_get: the filestat's fields. */
    stat(dir: number, path: string, lookup = 0) {
      const errno = w.path_filestat_get(dir, lookup, ...str(path), 64);
      return {
        errno,
        ino: dv.getBigUint64(64 + 8, true),
        filetype: dv.getUint8(64 + 16),
        nlink: dv.getBigUint64(64 + 24, true),
        size: dv.getBigUint64(64 + 32, true),
        atim: dv.getBigUint64(64 + 40, true),
        mtim: dv.getBigUint64(64 + 48, true),
      };
    },
    symlink: (target: string, dir: number, path: string) =>
      w.path_symlink(...str2(target), dir, ...str(path)),
    link: (dir: number, from: string, to: string, lookup = 0) =>
      w.path_link(dir, lookup, ...str2(from), dir, ...str(to)),
    /** path_readlink into a buffer of `len`: [errno, text]. */
    readlink(dir: number, path: string, len: number) {
      const errno = w.path_readlink(dir, ...str(path), BUF, len, OUT);
      return [errno, Buffer.from(u8.subarray(BUF, BUF + dv.getUint32(OUT, true))).toString()] as const;
    },
    write(fd: number, text: string) {
      const [p, n] = str(text);
      dv.setUint32(32, p, true);
      dv.setUint32(36, n, true);
      return w.fd_write(fd, 32, 1, OUT);
    },
    read(fd: number): string {
      dv.setUint32(32, BUF, true);
      dv.setUint32(36, 256, true);
      assert.equal(w.fd_read(fd, 32, 1, OUT), ERRNO.SUCCESS);
      return Buffer.from(u8.subarray(BUF, BUF + dv.getUint32(OUT, true))).toString();
    },
    prestatName(fd: number): string | number {
      const errno = w.fd_prestat_get(fd, OUT);
      if (errno !== ERRNO.SUCCESS) return errno;
      const len = dv.getUint32(OUT + 4, true);
      assert.equal(w.fd_prestat_dir_name(fd, BUF, len), ERRNO.SUCCESS);
      return Buffer.from(u8.subarray(BUF, BUF + len)).toString();
    },
  };
}

test("each --dir is preopened by name after /, at its path; fds past them answer EBADF at once", () => {
  const g = guest({ "/fs-tests.dir/file": "f", "/abs/x": "x" }, { preopens: ["fs-tests.dir", "/abs"] });
  assert.equal(g.prestatName(3), "/");
  assert.equal(g.prestatName(4), "fs-tests.dir");
  assert.equal(g.prestatName(5), "/abs");
  assert.equal(g.prestatName(6), ERRNO.BADF);
  const started = performance.now();
  for (const fd of [2 ** 31 - 1, -1, 1_000_000]) assert.equal(g.prestatName(fd), ERRNO.BADF);
  assert.ok(performance.now() - started < 50);
  // Opened through its preopen, and the same file through "/".
  const [errno, fd] = g.open(4, "file");
  assert.equal(errno, ERRNO.SUCCESS);
  assert.equal(g.read(fd), "f");
  assert.equal(g.open(3, "fs-tests.dir/file")[0], ERRNO.SUCCESS);
  // ".." cannot climb out of a named preopen into "/".
  assert.equal(g.open(4, "../abs/x")[0], ERRNO.NOTCAPABLE);
});

test("an image naming a preopen it does not hold gets it as an empty directory", () => {
  const g = guest({}, { preopens: ["out"] });
  assert.equal(g.prestatName(4), "out");
  assert.equal(g.stat(3, "out").filetype, 3);
});

test("a preopen advertises a directory's rights: no fd_write or fd_seek, and opening it for writing is EISDIR", () => {
  const g = guest({}, { preopens: ["d"] });
  for (const fd of [3, 4]) {
    const [errno, type, base] = g.fdstat(fd);
    assert.equal(errno, ERRNO.SUCCESS);
    assert.equal(type, 3);
    assert.equal(base & (RIGHT_FD_WRITE | RIGHT_FD_SEEK), 0n, `fd ${fd}`);
    // Reopening "." with the preopen's own rights, as Rust's std does, works.
    assert.equal(g.open(fd, ".", { oflags: OFLAGS_DIRECTORY, base })[0], ERRNO.SUCCESS);
  }
  assert.equal(
    g.open(3, ".", { oflags: OFLAGS_DIRECTORY, base: RIGHT_FD_READ | RIGHT_FD_WRITE })[0],
    ERRNO.ISDIR,
  );
});

test("symlinks: made and read back (cut to the buffer), followed only when asked, never out of the preopen", () => {
  const g = guest({ "/d/target": "content" }, { preopens: ["d"] });
  assert.equal(g.symlink("target", 4, "link"), ERRNO.SUCCESS);
  assert.deepEqual(g.readlink(4, "link", 100), [ERRNO.SUCCESS, "target"]);
  assert.deepEqual(g.readlink(4, "link", 4), [ERRNO.SUCCESS, "targ"]);
  assert.equal(g.readlink(4, "target", 100)[0], ERRNO.INVAL);
  assert.equal(g.open(4, "link")[0], ERRNO.LOOP, "the last component is not followed without SYMLINK_FOLLOW");
  const [errno, fd] = g.open(4, "link", { lookup: LOOKUPFLAGS_SYMLINK_FOLLOW });
  assert.equal(errno, ERRNO.SUCCESS);
  assert.equal(g.read(fd), "content");
  assert.equal(g.stat(4, "link").filetype, 7);
  assert.equal(g.stat(4, "link").size, 6n);
  assert.equal(g.stat(4, "link", LOOKUPFLAGS_SYMLINK_FOLLOW).filetype, 4);
  assert.equal(g.symlink("/etc", 4, "abs"), ERRNO.NOTCAPABLE);
  assert.equal(g.symlink("../..", 4, "up"), ERRNO.SUCCESS);
  assert.equal(g.open(4, "up/x", { lookup: LOOKUPFLAGS_SYMLINK_FOLLOW })[0], ERRNO.NOTCAPABLE);
  assert.equal(g.symlink("self", 4, "self"), ERRNO.SUCCESS);
  assert.equal(g.open(4, "self", { lookup: LOOKUPFLAGS_SYMLINK_FOLLOW })[0], ERRNO.LOOP);
  assert.equal(g.symlink("x", 4, "link"), ERRNO.EXIST);
  assert.equal(g.symlink("x", 4, "nope/"), ERRNO.NOENT);
  assert.equal(g.symlink("x", 4, "target/"), ERRNO.NOTDIR);
  // A symlink to a directory in the middle of a path is followed.
  assert.equal(g.symlink(".", 4, "here"), ERRNO.SUCCESS);
  assert.equal(g.open(4, "here/target")[0], ERRNO.SUCCESS);
  assert.equal(g.w.path_unlink_file(4, 1024, enc.encode("link").length), 0);
  assert.equal(g.stat(4, "target").filetype, 4, "unlinking a symlink leaves its target");
});

test("symlinks and empty directories from the image are kept as such", () => {
  const g = guest({ "/data/a.txt": "a" }, { symlinks: new Map([["/data/b", "a.txt"]]), dirs: ["/empty"] });
  assert.deepEqual(g.readlink(3, "data/b", 100), [ERRNO.SUCCESS, "a.txt"]);
  const [, fd] = g.open(3, "data/b", { lookup: LOOKUPFLAGS_SYMLINK_FOLLOW });
  assert.equal(g.read(fd), "a");
  assert.equal(g.stat(3, "empty").filetype, 3);
});

test("hard links name one file: same ino, nlink 2, writes through one read through the other", () => {
  const g = guest({ "/img": "image bytes" });
  assert.equal(g.link(3, "img", "tmp/alias"), ERRNO.SUCCESS);
  const a = g.stat(3, "img");
  const b = g.stat(3, "tmp/alias");
  assert.equal(a.ino, b.ino);
  assert.equal(a.nlink, 2n);
  const [, fd] = g.open(3, "tmp/alias");
  assert.equal(g.write(fd, "changed"), ERRNO.SUCCESS);
  const [, other] = g.open(3, "img");
  assert.equal(g.read(other), "changedytes", "the write replaced the head of the image bytes, kept the rest");
  assert.equal(g.link(3, "img", "tmp/alias"), ERRNO.EXIST);
  assert.equal(g.link(3, "tmp", "dirlink"), ERRNO.PERM);
  assert.equal(g.link(3, "img", "new/"), ERRNO.NOENT);
  assert.equal(g.w.path_unlink_file(3, ...strAt(g, "img")), ERRNO.SUCCESS);
  assert.equal(g.stat(3, "tmp/alias").nlink, 1n);
});

function strAt(g: ReturnType<typeof guest>, s: string): [number, number] {
  const b = enc.encode(s);
  g.u8.set(b, 1024);
  return [1024, b.length];
}

test("set_times keeps an exact mtim and leaves atim alone; a time and NOW together are EINVAL", () => {
  const g = guest();
  const [, fd] = g.open(3, "tmp/f", { oflags: OFLAGS_CREAT });
  const before = g.stat(3, "tmp/f");
  const mtim = before.mtim - 100n;
  assert.equal(g.w.fd_filestat_set_times(fd, 0n, mtim, FSTFLAGS_MTIM), ERRNO.SUCCESS);
  const after = g.stat(3, "tmp/f");
  assert.equal(after.mtim, mtim);
  assert.equal(after.atim, before.atim);
  assert.equal(g.w.fd_filestat_set_times(fd, 0n, 0n, FSTFLAGS_MTIM | FSTFLAGS_MTIM_NOW), ERRNO.INVAL);
  assert.equal(g.w.fd_filestat_set_times(fd, 0n, 0n, FSTFLAGS_ATIM | FSTFLAGS_ATIM_NOW), ERRNO.INVAL);
  assert.equal(g.stat(3, "tmp/f").mtim, mtim, "a refused call changes nothing");
  // Through a path, on a symlink itself (no follow), and on the directory "/".
  assert.equal(g.symlink("f", 3, "tmp/l"), ERRNO.SUCCESS);
  const [p, n] = strAt(g, "tmp/l");
  assert.equal(g.w.path_filestat_set_times(3, 0, p, n, 5n, 7n, FSTFLAGS_MTIM | FSTFLAGS_ATIM), ERRNO.SUCCESS);
  assert.equal(g.stat(3, "tmp/l").mtim, 7n);
  assert.equal(g.stat(3, "tmp/l").atim, 5n);
  assert.equal(g.stat(3, "tmp/f").mtim, mtim, "the target is untouched");
  assert.equal(g.w.fd_filestat_set_times(3, 0n, 9n, FSTFLAGS_MTIM), ERRNO.SUCCESS);
  assert.equal(g.stat(3, ".").mtim, 9n);
});

test("O_TRUNC needs path_filestat_set_size on the directory (the truncation rights rule)", () => {
  const g = guest({ "/d/f": "data" }, { preopens: ["d"] });
  assert.equal(g.open(4, "f", { oflags: OFLAGS_TRUNC, base: 0n })[0], ERRNO.SUCCESS);
  const [, , base, inheriting] = g.fdstat(4);
  assert.equal(g.w.fd_fdstat_set_rights(4, base & ~RIGHT_PATH_FILESTAT_SET_SIZE, inheriting), ERRNO.SUCCESS);
  assert.equal(g.open(4, "f", { oflags: OFLAGS_TRUNC, base: 0n })[0], ERRNO.NOTCAPABLE);
  assert.equal(g.open(4, "f")[0], ERRNO.SUCCESS, "opening without O_TRUNC still works");
});

test("sock_* calls answer as a host without sockets: EBADF for a closed fd or a directory, ENOTSOCK otherwise", () => {
  const g = guest({ "/f": "x" });
  const [, file] = g.open(3, "f");
  for (const [fd, want] of [
    [3, ERRNO.BADF],
    [99, ERRNO.BADF],
    [1, ERRNO.NOTSOCK],
    [file, ERRNO.NOTSOCK],
  ] as const) {
    assert.equal(g.w.sock_shutdown(fd, 1), want, `sock_shutdown(${fd})`);
    assert.equal(g.w.sock_recv(fd, 0, 0, 0, 0, 0), want, `sock_recv(${fd})`);
    assert.equal(g.w.sock_send(fd, 0, 0, 0, 0), want, `sock_send(${fd})`);
    assert.equal(g.w.sock_accept(fd, 0, 0), want, `sock_accept(${fd})`);
  }
});

test("collect returns the files the invocation wrote under a directory, not the image's it only read", () => {
  const g = guest({ "/out/kept.txt": "image", "/out/read.txt": "image" }, { preopens: ["out"] }, "/out");
  const [, r] = g.open(4, "read.txt");
  g.read(r);
  const [, k] = g.open(4, "kept.txt");
  assert.equal(g.write(k, "IMAGE"), ERRNO.SUCCESS);
  assert.equal(g.w.path_create_directory(4, ...strAt(g, "sub")), ERRNO.SUCCESS);
  const [, n] = g.open(4, "sub/new.txt", { oflags: OFLAGS_CREAT });
  assert.equal(g.write(n, "new"), ERRNO.SUCCESS);
  const [, t] = g.open(3, "tmp/elsewhere", { oflags: OFLAGS_CREAT });
  assert.equal(g.write(t, "not collected"), ERRNO.SUCCESS);
  const out = g.host.end(0);
  assert.deepEqual(
    [...(out.files ?? [])].map(([p, b]) => [p, Buffer.from(b).toString()]),
    [
      ["/out/kept.txt", "IMAGE"],
      ["/out/sub/new.txt", "new"],
    ],
  );
});

test("hard links of the image are one file too: a write through one name shows through the other", () => {
  const data = enc.encode("shared");
  const image = new FsImage(
    new Map([
      ["/a", data],
      ["/b", data],
    ]),
  );
  const g = guest({}, {}, undefined, image);
  assert.equal(g.stat(3, "a").ino, g.stat(3, "b").ino);
  assert.equal(g.stat(3, "a").nlink, 2n);
  const [, fd] = g.open(3, "a");
  assert.equal(g.write(fd, "SH"), ERRNO.SUCCESS);
  const [, other] = g.open(3, "b");
  assert.equal(g.read(other), "SHared");
  assert.equal(Buffer.from(data).toString(), "shared", "the image's bytes are untouched");
  assert.equal(g.w.path_unlink_file(3, ...strAt(g, "a")), ERRNO.SUCCESS);
  assert.equal(g.stat(3, "b").nlink, 1n);
});
