import { preopenPath, WasmletError } from "../../core/index.js";
import { FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE, FILETYPE_SYMBOLIC_LINK } from "./constants.js";

/**
 * A time of a node: ms since the epoch as a number (what the host sets when a node changes: no allocation), or
 * exact ns as a bigint (what *_filestat_set_times asked for, kept to the ns as wasmtime does).
 */
export type NodeTime = number | bigint;

/** A directory, as the host sees it: an identity and its times. Its entries live in FsImage.children / the overlay. */
export interface DirNode {
  /** Always FILETYPE_DIRECTORY; tells nodes apart. */
  readonly kind: typeof FILETYPE_DIRECTORY;
  /** Inode number reported by stat and readdir; unique within one invocation's filesystem. */
  readonly ino: number;
  /** Always 0. */
  readonly size: number;
  /** Times (0 for image directories); an overlay copy is made to change them. */
  readonly mtim: NodeTime;
  readonly atim: NodeTime;
}

/** A regular file of an image: its bytes are shared by every invocation and never written. */
export interface BaseFile {
  /** Always FILETYPE_REGULAR_FILE. */
  readonly kind: typeof FILETYPE_REGULAR_FILE;
  /** Inode number, stable for the image's lifetime. */
  readonly ino: number;
  /** data.length. */
  readonly size: number;
  /** Always 0: images carry no timestamps here. */
  readonly mtim: NodeTime;
  readonly atim: NodeTime;
  /** The file's bytes, shared and never written. */
  readonly data: Uint8Array;
  /** Paths of the image that name this file (hard links in a layer share one node). */
  readonly nlink: number;
}

/** A symbolic link, in the image or made by path_symlink; never changed once made (set_times replaces it). */
export interface SymlinkNode {
  readonly kind: typeof FILETYPE_SYMBOLIC_LINK;
  readonly ino: number;
  /** The target's UTF-8 length, as lstat reports it. */
  readonly size: number;
  readonly mtim: NodeTime;
  readonly atim: NodeTime;
  /** The path the link holds, as written (relative to the link's directory). */
  readonly target: string;
}

export type BaseNode = DirNode | BaseFile | SymlinkNode;

/** A directory the guest finds open at start (fd 3 is always "/"): the name fd_prestat_dir_name reports, and where it is. */
export interface Preopen {
  readonly name: string;
  /** Normalized absolute path in the filesystem. */
  readonly path: string;
}

/** What an image holds besides regular files. */
export interface FsImageExtras {
  /** Directories, also empty ones (those holding files are implied). */
  readonly dirs?: Iterable<string>;
  /** Symbolic links: absolute path → target. */
  readonly symlinks?: ReadonlyMap<string, string>;
  /** Names of directories preopened beside "/", each at preopenPath(name) (wasmtime's `--dir LOCAL::NAME`). */
  readonly preopens?: readonly string[];
}

/** Directories every image has even when no file lives under them: programs expect a writable /tmp. */
const ALWAYS_DIRS = ["/tmp"];
const utf8 = new TextEncoder();

/**
 * A read-only image filesystem: every file, directory and symlink by absolute path ("/data/x.txt"); the
 * directories above them are implied, and "/" and "/tmp" always exist. Built once per image and shared by
 * every host (and invocation) that runs it, so nothing in it is ever mutated after construction.
 */
export class FsImage {
  /** Every node by normalized absolute path ("/" for the root). */
  readonly nodes: ReadonlyMap<string, BaseNode>;
  /** Names directly inside each directory, sorted (the order fd_readdir reports them in). */
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** The highest inode number used; the overlay numbers new nodes after it. */
  readonly maxIno: number;
  /** "/" first, then the image's named preopens in the order given. */
  readonly preopens: readonly Preopen[];
  /** Every path of each file with more than one (hard links), by inode. */
  readonly links: ReadonlyMap<number, readonly string[]>;

  constructor(files: ReadonlyMap<string, Uint8Array>, extras: FsImageExtras = {}) {
    const nodes = new Map<string, BaseNode>();
    const kids = new Map<string, string[]>();
    let ino = 0;
    const addDir = (path: string): void => {
      const existing = nodes.get(path);
      if (existing !== undefined && existing.kind !== FILETYPE_DIRECTORY)
        throw new WasmletError("INVALID_ARGUMENT", `files: "${path}" is both a file and a directory`);
      if (existing) return;
      nodes.set(path, { kind: FILETYPE_DIRECTORY, ino: ++ino, size: 0, mtim: 0, atim: 0 });
      kids.set(path, []);
      if (path === "/") return;
      const parent = parentOf(path);
      addDir(parent);
      kids.get(parent)?.push(baseName(path));
    };
    const addLeaf = (path: string, node: BaseNode): void => {
      checkFilePath(path);
      if (nodes.has(path))
        throw new WasmletError("INVALID_ARGUMENT", `files: "${path}" is both a file and a directory`);
      const parent = parentOf(path);
      addDir(parent);
      nodes.set(path, node);
      kids.get(parent)!.push(baseName(path));
    };
    addDir("/");
    for (const dir of [...(extras.dirs ?? [])].sort()) {
      if (dir !== "/") checkFilePath(dir);
      addDir(dir);
    }
    // One node per byte array: a hard link in a layer is the same array under two paths.
    const byData = new Map<Uint8Array, string[]>();
    for (const path of [...files.keys()].sort()) {
      const data = files.get(path)!;
      const paths = byData.get(data);
      if (paths) paths.push(path);
      else byData.set(data, [path]);
    }
    const links = new Map<number, string[]>();
    for (const [data, paths] of byData) {
      const node: BaseFile = {
        kind: FILETYPE_REGULAR_FILE,
        ino: ++ino,
        size: data.length,
        mtim: 0,
        atim: 0,
        data,
        nlink: paths.length,
      };
      for (const path of paths) addLeaf(path, node);
      if (paths.length > 1) links.set(node.ino, paths);
    }
    for (const [path, target] of [...(extras.symlinks ?? [])].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const size = utf8.encode(target).length;
      addLeaf(path, { kind: FILETYPE_SYMBOLIC_LINK, ino: ++ino, size, mtim: 0, atim: 0, target });
    }
    for (const dir of ALWAYS_DIRS) if (!nodes.has(dir)) addDir(dir);
    const preopens: Preopen[] = [{ name: "/", path: "/" }];
    for (const name of extras.preopens ?? []) {
      const path = preopenPath(name);
      // The image holds the directory when the function was made with `--dir`; one that does not is empty.
      if (!nodes.has(path)) addDir(path);
      if (nodes.get(path)?.kind !== FILETYPE_DIRECTORY)
        throw new WasmletError("INVALID_ARGUMENT", `preopens: "${path}" is not a directory of the image`);
      preopens.push({ name, path });
    }
    for (const list of kids.values()) list.sort();
    this.nodes = nodes;
    this.children = kids;
    this.maxIno = ino;
    this.preopens = preopens;
    this.links = links;
  }
}

/** The directory part of a normalized absolute path ("/a/b" → "/a", "/a" → "/"). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function checkFilePath(path: string): void {
  const segments = path.split("/");
  const bad =
    segments[0] !== "" ||
    path.length < 2 ||
    path.includes("\0") ||
    segments.slice(1).some((s) => s === "" || s === "." || s === "..");
  if (bad)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `files: "${path}" is not a normalized absolute file path (like "/data/x.txt")`,
    );
}
