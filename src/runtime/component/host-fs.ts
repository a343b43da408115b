// wasi:filesystem for transpiled components: the image's files, preopened at "/", with the same per-invocation
// copy-on-write overlay (OverlayFs) that modules get; nothing written outlives the run.
import {
  type AnyNode,
  ERRNO,
  FILETYPE_DIRECTORY,
  FILETYPE_SYMBOLIC_LINK,
  FileNode,
  type NodeTime,
  type OverlayFs,
} from "../wasi/index.js";
import { currentInvocation } from "./host-http.js";
import { InputStream, OutputStream, ResultError } from "./host-io.js";
import type { Invocation } from "./invocation.js";

/** wasi:filesystem error-code for each preview1 errno the overlay returns. */
const ERROR_CODES: Readonly<Record<number, string>> = {
  [ERRNO.ACCES]: "access",
  [ERRNO.BADF]: "bad-descriptor",
  [ERRNO.EXIST]: "exist",
  [ERRNO.FBIG]: "file-too-large",
  [ERRNO.INVAL]: "invalid",
  [ERRNO.ISDIR]: "is-directory",
  [ERRNO.NAMETOOLONG]: "name-too-long",
  [ERRNO.NOENT]: "no-entry",
  [ERRNO.NOSPC]: "insufficient-space",
  [ERRNO.NOTDIR]: "not-directory",
  [ERRNO.NOTEMPTY]: "not-empty",
  [ERRNO.NOTSUP]: "unsupported",
  [ERRNO.NOTCAPABLE]: "not-permitted",
};

function fail(code: number | string): never {
  throw new ResultError(typeof code === "string" ? code : (ERROR_CODES[code] ?? "io"));
}

/** A node time (ms as a number, ns as a bigint) as a wasi:clocks datetime. */
function datetime(t: NodeTime): { seconds: bigint; nanoseconds: number } {
  const ns = typeof t === "bigint" ? t : BigInt(Math.trunc(t)) * 1_000_000n;
  return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) };
}

function typeOf(node: AnyNode): string {
  if (node.kind === FILETYPE_DIRECTORY) return "directory";
  return node.kind === FILETYPE_SYMBOLIC_LINK ? "symbolic-link" : "regular-file";
}

function stat(node: AnyNode): object {
  const mtim = datetime(node.mtim);
  return {
    type: typeOf(node),
    linkCount: BigInt("nlink" in node ? node.nlink : 1),
    size: BigInt(node.size),
    dataAccessTimestamp: datetime(node.atim),
    dataModificationTimestamp: mtim,
    statusChangeTimestamp: mtim,
  };
}

/** Most links followed in one lookup, as WASI hosts do. */
const MAX_LINKS = 40;

/** The path and node `path` leads to, following symbolic links (relative targets only, never above "/"). */
function follow(fs: OverlayFs, path: string): { path: string; node: AnyNode | null } {
  let node = fs.lookup(path);
  for (let hops = 0; node?.kind === FILETYPE_SYMBOLIC_LINK; hops++) {
    if (hops >= MAX_LINKS) fail("loop");
    if (node.target.startsWith("/")) fail("not-permitted");
    path = resolve(path.slice(0, Math.max(1, path.lastIndexOf("/"))), node.target);
    node = fs.lookup(path);
  }
  return { path, node };
}

/** Joins a guest path to a directory, refusing absolute paths and `..` above the preopen (not-permitted). */
function resolve(dir: string, path: string): string {
  if (path.startsWith("/")) fail("not-permitted");
  const parts = dir === "/" ? [] : dir.slice(1).split("/");
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === 0) fail("not-permitted");
      parts.pop();
    } else parts.push(seg);
  }
  return `/${parts.join("/")}`;
}

class DirectoryEntryStream {
  private i = 0;
  constructor(
    private readonly fs: OverlayFs,
    private readonly dir: string,
    private readonly names: string[],
  ) {}

  readDirectoryEntry(): object | undefined {
    while (this.i < this.names.length) {
      const name = this.names[this.i++];
      const node = this.fs.lookup(this.dir === "/" ? `/${name}` : `${this.dir}/${name}`);
      if (node) return { type: typeOf(node), name };
    }
    return undefined;
  }
}

/** wasi:filesystem `descriptor`: a path in the invocation's filesystem, opened for reading and maybe writing. */
class Descriptor {
  constructor(
    private readonly inv: Invocation,
    readonly path: string,
    private readonly writable: boolean,
  ) {}

  private node(): AnyNode {
    const node = this.inv.fs.lookup(this.path);
    if (!node) fail(ERRNO.BADF);
    return node;
  }

  /** The regular file this descriptor is open on (a symlink is followed when opened, so never one here). */
  private regular(): FileNode | Extract<AnyNode, { data: Uint8Array }> {
    const node = this.node();
    if (node.kind === FILETYPE_DIRECTORY) fail(ERRNO.ISDIR);
    if (node.kind === FILETYPE_SYMBOLIC_LINK) fail("invalid");
    return node;
  }

  private file(): FileNode {
    const node = this.regular();
    if (!this.writable) fail(ERRNO.BADF);
    return this.inv.fs.fileNode(this.path, node);
  }

  private put(data: Uint8Array, pos: number): void {
    const file = this.file();
    const err = this.inv.fs.write(file, pos, data, 0, data.length);
    if (err !== ERRNO.SUCCESS) fail(err);
  }

  readViaStream(offset: bigint): InputStream {
    const node = this.regular();
    const data = node instanceof FileNode ? node.data.subarray(0, node.size) : node.data;
    return new InputStream(this.inv, data.subarray(Number(offset)));
  }

  writeViaStream(offset: bigint): OutputStream {
    let pos = Number(offset);
    this.file();
    return new OutputStream(this.inv, (b) => {
      this.put(b, pos);
      pos += b.length;
    });
  }

  appendViaStream(): OutputStream {
    this.file();
    return new OutputStream(this.inv, (b) => this.put(b, this.node().size));
  }

  advise(): void {}
  syncData(): void {}
  sync(): void {}
  setTimes(): void {}
  setTimesAt(): void {}

  getFlags(): object {
    return { read: true, write: this.writable };
  }

  getType(): string {
    return typeOf(this.node());
  }

  setSize(size: bigint): void {
    const err = this.inv.fs.resize(this.file(), Number(size));
    if (err !== ERRNO.SUCCESS) fail(err);
  }

  read(len: bigint, offset: bigint): [Uint8Array, boolean] {
    const node = this.regular();
    const start = Math.min(Number(offset), node.size);
    const end = Math.min(start + Number(len), node.size);
    return [node.data.slice(start, end), end >= node.size];
  }

  write(buf: Uint8Array, offset: bigint): bigint {
    this.put(buf, Number(offset));
    return BigInt(buf.length);
  }

  readDirectory(): DirectoryEntryStream {
    if (this.node().kind !== FILETYPE_DIRECTORY) fail(ERRNO.NOTDIR);
    return new DirectoryEntryStream(this.inv.fs, this.path, this.inv.fs.list(this.path));
  }

  createDirectoryAt(path: string): void {
    const p = resolve(this.path, path);
    if (this.inv.fs.lookup(p)) fail(ERRNO.EXIST);
    this.parentDir(p);
    this.writableAt(p);
    this.inv.fs.createDir(p);
  }

  stat(): object {
    return stat(this.node());
  }

  statAt(flags: { symlinkFollow?: boolean }, path: string): object {
    const p = resolve(this.path, path);
    const node = flags.symlinkFollow ? follow(this.inv.fs, p).node : this.inv.fs.lookup(p);
    if (!node) fail(this.inv.fs.missing(p));
    return stat(node);
  }

  linkAt(): void {
    fail("unsupported");
  }

  openAt(
    _pathFlags: object,
    path: string,
    open: { create?: boolean; directory?: boolean; exclusive?: boolean; truncate?: boolean },
    flags: { write?: boolean; mutateDirectory?: boolean },
  ): Descriptor {
    const found = follow(this.inv.fs, resolve(this.path, path));
    const p = found.path;
    let node = found.node;
    if (node && open.create && open.exclusive) fail(ERRNO.EXIST);
    if (!node) {
      if (!open.create) fail(this.inv.fs.missing(p));
      this.parentDir(p);
      this.writableAt(p);
      node = this.inv.fs.createFile(p);
    }
    if (open.directory && node.kind !== FILETYPE_DIRECTORY) fail(ERRNO.NOTDIR);
    const writable = Boolean(flags.write);
    if (node.kind === FILETYPE_DIRECTORY && writable) fail(ERRNO.ISDIR);
    if (writable || open.truncate) this.writableAt(p);
    const d = new Descriptor(this.inv, p, writable || Boolean(flags.mutateDirectory));
    if (open.truncate && node.kind !== FILETYPE_DIRECTORY) {
      if (!writable) fail(ERRNO.BADF);
      d.setSize(0n);
    }
    return d;
  }

  readlinkAt(path: string): string {
    const node = this.inv.fs.lookup(resolve(this.path, path));
    if (node?.kind !== FILETYPE_SYMBOLIC_LINK) fail("invalid");
    return node.target;
  }

  removeDirectoryAt(path: string): void {
    const p = resolve(this.path, path);
    const node = this.inv.fs.lookup(p);
    if (!node) fail(this.inv.fs.missing(p));
    if (node.kind !== FILETYPE_DIRECTORY) fail(ERRNO.NOTDIR);
    if (this.inv.fs.list(p).length > 0) fail(ERRNO.NOTEMPTY);
    this.writableAt(p);
    this.inv.fs.remove(p);
  }

  renameAt(oldPath: string, newDir: Descriptor, newPath: string): void {
    const from = resolve(this.path, oldPath);
    const to = resolve(newDir.path, newPath);
    if (!this.inv.fs.lookup(from)) fail(this.inv.fs.missing(from));
    this.parentDir(to);
    this.writableAt(from);
    this.writableAt(to);
    this.inv.fs.rename(from, to);
  }

  symlinkAt(): void {
    fail("unsupported");
  }

  unlinkFileAt(path: string): void {
    const p = resolve(this.path, path);
    const node = this.inv.fs.lookup(p);
    if (!node) fail(this.inv.fs.missing(p));
    if (node.kind === FILETYPE_DIRECTORY) fail(ERRNO.ISDIR);
    this.writableAt(p);
    this.inv.fs.remove(p);
  }

  isSameObject(other: Descriptor): boolean {
    return other.path === this.path;
  }

  metadataHash(): object {
    return { lower: BigInt(this.node().ino), upper: 0n };
  }

  metadataHashAt(_flags: object, path: string): object {
    const p = resolve(this.path, path);
    const node = this.inv.fs.lookup(p);
    if (!node) fail(this.inv.fs.missing(p));
    return { lower: BigInt(node.ino), upper: 0n };
  }

  /** A mounted secret or config (or a new name among them) cannot change: `access`, as a read-only file. */
  private writableAt(p: string): void {
    if (this.inv.fs.readOnly(p)) fail(ERRNO.ACCES);
  }

  private parentDir(p: string): void {
    const parent = p.slice(0, Math.max(1, p.lastIndexOf("/")));
    const node = this.inv.fs.lookup(parent);
    if (!node) fail(this.inv.fs.missing(parent));
    if (node.kind !== FILETYPE_DIRECTORY) fail(ERRNO.NOTDIR);
  }
}

/** The wasi:filesystem imports: "/" and the image's preopens, read-write through the run's overlay. */
export function fsImports(): Record<string, object> {
  return {
    "wasi:filesystem/types": {
      Descriptor,
      DirectoryEntryStream,
      filesystemErrorCode: () => undefined,
    },
    "wasi:filesystem/preopens": {
      getDirectories: () => {
        const inv = currentInvocation();
        return [
          [new Descriptor(inv, "/", true), "/"],
          ...inv.fs.image.preopens.map((p) => [new Descriptor(inv, p.path, true), p.name]),
        ];
      },
    },
  };
}
