import { WasmletError } from "../../core/index.js";
import { FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE } from "./constants.js";

/** A directory, as the host sees it: only an identity. Its entries live in FsImage.children / the overlay. */
export interface DirNode {
  /** Always FILETYPE_DIRECTORY; tells nodes apart. */
  readonly kind: typeof FILETYPE_DIRECTORY;
  /** Inode number reported by stat and readdir; unique within one invocation's filesystem. */
  readonly ino: number;
  /** Always 0. */
  readonly size: number;
  /** Modification time in ms since the epoch (0 for image directories). */
  readonly mtimMs: number;
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
  readonly mtimMs: number;
  /** The file's bytes, shared and never written. */
  readonly data: Uint8Array;
}

export type BaseNode = DirNode | BaseFile;

/** Directories every image has even when no file lives under them: programs expect a writable /tmp. */
const ALWAYS_DIRS = ["/tmp"];

/**
 * A read-only image filesystem: every regular file by absolute path ("/data/x.txt"); the directories
 * above them are implied, and "/" and "/tmp" always exist. Built once per image and shared by every host
 * (and invocation) that runs it, so nothing in it is ever mutated after construction.
 */
export class FsImage {
  /** Every file and directory by normalized absolute path ("/" for the root). */
  readonly nodes: ReadonlyMap<string, BaseNode>;
  /** Names directly inside each directory, sorted (the order fd_readdir reports them in). */
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** The highest inode number used; the overlay numbers new nodes after it. */
  readonly maxIno: number;

  constructor(files: ReadonlyMap<string, Uint8Array>) {
    const nodes = new Map<string, BaseNode>();
    const kids = new Map<string, string[]>();
    let ino = 0;
    const addDir = (path: string): void => {
      const existing = nodes.get(path);
      if (existing?.kind === FILETYPE_REGULAR_FILE)
        throw new WasmletError("INVALID_ARGUMENT", `files: "${path}" is both a file and a directory`);
      if (existing) return;
      nodes.set(path, { kind: FILETYPE_DIRECTORY, ino: ++ino, size: 0, mtimMs: 0 });
      kids.set(path, []);
      if (path === "/") return;
      const parent = parentOf(path);
      addDir(parent);
      kids.get(parent)?.push(baseName(path));
    };
    addDir("/");
    for (const path of [...files.keys()].sort()) {
      checkFilePath(path);
      const parent = parentOf(path);
      addDir(parent);
      const data = files.get(path)!;
      nodes.set(path, { kind: FILETYPE_REGULAR_FILE, ino: ++ino, size: data.length, mtimMs: 0, data });
      kids.get(parent)!.push(baseName(path));
    }
    for (const dir of ALWAYS_DIRS) if (!nodes.has(dir)) addDir(dir);
    for (const list of kids.values()) list.sort();
    this.nodes = nodes;
    this.children = kids;
    this.maxIno = ino;
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
