import { ERRNO, FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE, FILETYPE_SYMBOLIC_LINK } from "./constants.js";
import {
  type BaseFile,
  type DirNode,
  type FsImage,
  joinPath,
  type NodeTime,
  parentOf,
  type SymlinkNode,
} from "./fs-image.js";
import type { MountLayer } from "./mounts.js";

/**
 * A regular file an invocation has opened, created or renamed. While `shared`, `data` is the image's own
 * array and must not be written: the first write copies it (copy-on-write).
 */
export class FileNode {
  readonly kind = FILETYPE_REGULAR_FILE;
  /** Open fds on this node; an unlinked node's bytes are released when the last one closes. */
  opens = 0;
  /** Names that lead to this node (path_link adds one); at 0 it is unlinked. */
  nlink = 1;
  constructor(
    readonly ino: number,
    public data: Uint8Array,
    public size: number,
    public shared: boolean,
    public mtim: NodeTime,
    public atim: NodeTime = mtim,
  ) {}

  get linked(): boolean {
    return this.nlink > 0;
  }
}

export type FsNode = DirNode | FileNode | SymlinkNode;
/** What a lookup can find: an overlay node, or an image node not touched by this invocation. */
export type AnyNode = FsNode | BaseFile;

const EMPTY = new Uint8Array(0);

/**
 * The filesystem of one invocation: the immutable image plus a copy-on-write overlay (changed paths, and
 * `null` whiteouts for removed ones). `reset()` drops the overlay, so nothing written survives an
 * invocation, and the image is never copied. Bytes owned by the overlay are capped (ENOSPC).
 */
export class OverlayFs {
  /** Bumped on every change of the namespace; open directory fds re-list when it moved. */
  generation = 0;
  private readonly overlay = new Map<string, FsNode | null>();
  private used = 0;
  private nextIno: number;

  constructor(
    readonly image: FsImage,
    private readonly capBytes: number,
    /** Read-only directories over the image (a function's secrets and configs); reset() may change them. */
    private mounts: MountLayer | null = null,
  ) {
    this.nextIno = (mounts?.maxIno ?? image.maxIno) + 1;
  }

  /** Drops everything the last invocation wrote; `mounts` (when given) replaces the read-only layer. */
  reset(mounts?: MountLayer | null): void {
    if (this.overlay.size > 0) this.overlay.clear();
    if (mounts !== undefined) this.mounts = mounts;
    this.used = 0;
    this.nextIno = (this.mounts?.maxIno ?? this.image.maxIno) + 1;
    this.generation++;
  }

  lookup(path: string): AnyNode | null {
    const node = this.overlay.get(path);
    if (node !== undefined) return node;
    const mounts = this.mounts;
    if (mounts !== null) {
      const mounted = mounts.nodes.get(path);
      if (mounted !== undefined) return mounted;
      if (mounts.hides(path)) return null;
    }
    return this.image.nodes.get(path) ?? null;
  }

  /** True when `path` is in a read-only mount (or would be created in one): changes there are EACCES. */
  readOnly(path: string): boolean {
    return this.mounts?.readOnly(path) === true;
  }

  /** The errno for a path that does not exist: ENOTDIR when an ancestor is a file, else ENOENT. */
  missing(path: string): number {
    for (let p = parentOf(path); p !== "/"; p = parentOf(p)) {
      const node = this.lookup(p);
      if (node !== null) return node.kind === FILETYPE_DIRECTORY ? ERRNO.NOENT : ERRNO.NOTDIR;
    }
    return ERRNO.NOENT;
  }

  /** The writable node behind a path that holds a file, recording it in the overlay (no bytes copied). */
  fileNode(path: string, node: FileNode | BaseFile): FileNode {
    if (node instanceof FileNode) return node;
    const file = new FileNode(node.ino, node.data, node.size, true, node.mtim, node.atim);
    this.overlay.set(path, file);
    if (node.nlink > 1) {
      // A hard link of the image: every name still leading to it now leads to this one writable node.
      file.nlink = 1;
      for (const p of this.image.links.get(node.ino) ?? [])
        if (p !== path && this.lookup(p) === node) {
          this.overlay.set(p, file);
          file.nlink++;
        }
    }
    return file;
  }

  /** Sorted names inside a directory: the image's entries not removed, plus the overlay's additions. */
  list(dir: string): string[] {
    const mounts = this.mounts;
    if (mounts?.isRoot(dir)) return [...(mounts.children.get(dir) ?? [])];
    const names: string[] = [];
    const added = mounts?.children.get(dir);
    if (added !== undefined) names.push(...added);
    for (const name of this.image.children.get(dir) ?? []) {
      if (added?.includes(name)) continue;
      if (this.overlay.get(joinPath(dir, name)) !== null) names.push(name);
    }
    // The overlay is scanned whole: it holds only what this invocation touched, usually a handful of paths.
    for (const [path, node] of this.overlay) {
      if (
        node !== null &&
        path !== "/" &&
        parentOf(path) === dir &&
        !this.image.nodes.has(path) &&
        mounts?.nodes.has(path) !== true
      )
        names.push(path.slice(dir === "/" ? 1 : dir.length + 1));
    }
    return names.sort();
  }

  createFile(path: string): FileNode {
    const file = new FileNode(this.nextIno++, EMPTY, 0, false, Date.now());
    this.overlay.set(path, file);
    this.generation++;
    return file;
  }

  createDir(path: string): void {
    const now = Date.now();
    this.overlay.set(path, { kind: FILETYPE_DIRECTORY, ino: this.nextIno++, size: 0, mtim: now, atim: now });
    this.generation++;
  }

  createSymlink(path: string, target: string, size: number): void {
    const now = Date.now();
    this.overlay.set(path, {
      kind: FILETYPE_SYMBOLIC_LINK,
      ino: this.nextIno++,
      size,
      mtim: now,
      atim: now,
      target,
    });
    this.generation++;
  }

  /** A second name for the node at `from` (a file or a symlink); the caller checked `to` is free. */
  link(from: string, node: FileNode | BaseFile | SymlinkNode, to: string): void {
    if (node.kind === FILETYPE_SYMBOLIC_LINK) {
      this.overlay.set(to, node);
    } else {
      const file = this.fileNode(from, node);
      file.nlink++;
      this.overlay.set(to, file);
    }
    this.generation++;
  }

  /**
   * Sets the times of the node at `path` (undefined = unchanged): a file's own node, or for a directory or
   * symlink a copy in the overlay with the same identity (image nodes are never changed).
   */
  setTimes(path: string, node: AnyNode, atim: NodeTime | undefined, mtim: NodeTime | undefined): void {
    if (node.kind === FILETYPE_REGULAR_FILE) {
      const file = this.fileNode(path, node);
      if (atim !== undefined) file.atim = atim;
      if (mtim !== undefined) file.mtim = mtim;
      return;
    }
    this.overlay.set(path, { ...node, atim: atim ?? node.atim, mtim: mtim ?? node.mtim });
  }

  /** Removes a name; the caller checked it exists (and, for a directory, that it is empty). */
  remove(path: string): void {
    const node = this.overlay.get(path);
    if (node instanceof FileNode) this.unlinked(node);
    this.overlay.set(path, null);
    this.generation++;
  }

  /** Moves a file or a whole directory tree; the caller checked the target may be replaced. */
  rename(from: string, to: string): void {
    const node = this.lookup(from)!;
    const target = this.overlay.get(to);
    // Two names of one file: rename does nothing (POSIX).
    if (target !== undefined && target === node) return;
    if (target instanceof FileNode) this.unlinked(target);
    const moves: [string, string][] = [[from, to]];
    if (node.kind === FILETYPE_DIRECTORY) this.collect(from, to, moves);
    const nodes = moves.map(([src]) => this.lookup(src)!);
    for (let i = 0; i < moves.length; i++) {
      const [src, dst] = moves[i];
      const n = nodes[i];
      this.overlay.set(src, null);
      this.overlay.set(
        dst,
        n.kind !== FILETYPE_REGULAR_FILE || n instanceof FileNode ? n : this.fileNode(dst, n),
      );
    }
    this.generation++;
  }

  /** Writes `len` bytes of `src` at `pos`, growing the file (zero-filled gap); ENOSPC over the cap. */
  write(file: FileNode, pos: number, src: Uint8Array, srcStart: number, len: number): number {
    const end = pos + len;
    const err = this.resize(file, Math.max(end, file.size), end);
    if (err !== ERRNO.SUCCESS) return err;
    file.data.set(src.subarray(srcStart, srcStart + len), pos);
    return ERRNO.SUCCESS;
  }

  /** Sets a file's size (ftruncate); new bytes read as zero. `minCapacity` avoids a second copy on write. */
  resize(file: FileNode, size: number, minCapacity = size): number {
    if (size === file.size && !file.shared) return ERRNO.SUCCESS;
    const owned = file.shared ? 0 : file.size;
    // Unlinked files that are still open count too: otherwise unlink-while-open would escape the cap.
    if (this.used + size - owned > this.capBytes) return ERRNO.NOSPC;
    if (file.shared || minCapacity > file.data.length) {
      // Doubling keeps appends amortized O(1); the cap bounds the logical size, not this slack.
      const grown = file.shared ? 0 : Math.min(file.data.length * 2, this.capBytes);
      // Never below `size`: a write inside an image file (minCapacity = its end) keeps the bytes after it.
      const data = new Uint8Array(Math.max(minCapacity, size, grown));
      data.set(file.data.subarray(0, Math.min(file.size, size)));
      file.data = data;
      file.shared = false;
    } else if (size > file.size) {
      file.data.fill(0, file.size, size);
    }
    this.used += size - owned;
    file.size = size;
    file.mtim = Date.now();
    return ERRNO.SUCCESS;
  }

  /**
   * Copies of the regular files at or under `path` that this invocation created or changed (the overlay's own
   * bytes, not the image's), by absolute path. Called once at the end of an invocation that asked for them.
   */
  written(path: string): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const prefix = path === "/" ? "/" : `${path}/`;
    for (const [p, node] of this.overlay)
      if (node instanceof FileNode && !node.shared && (p === path || p.startsWith(prefix)))
        out.set(p, node.data.slice(0, node.size));
    return out;
  }

  /** Called when an fd on `file` closes. */
  closed(file: FileNode): void {
    if (--file.opens === 0 && !file.linked) this.release(file);
  }

  private unlinked(file: FileNode): void {
    if (--file.nlink > 0) return;
    if (file.opens === 0) this.release(file);
  }

  private release(file: FileNode): void {
    if (!file.shared) this.used -= file.size;
    file.data = EMPTY;
    file.size = 0;
    file.shared = false;
  }

  private collect(from: string, to: string, out: [string, string][]): void {
    for (const name of this.list(from)) {
      const src = joinPath(from, name);
      out.push([src, joinPath(to, name)]);
      if (this.lookup(src)?.kind === FILETYPE_DIRECTORY) this.collect(src, joinPath(to, name), out);
    }
  }
}
