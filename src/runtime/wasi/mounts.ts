import { FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE } from "./constants.js";
import { type BaseFile, type DirNode, type FsImage, joinPath, parentOf } from "./fs-image.js";

/** Directories and their files: guest path of each directory (`/secrets/db`) → file name → bytes. */
export type MountMap = ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>;

/**
 * Read-only directories laid over an image for one invocation (a function's secrets and configs): each mounted
 * directory hides what the image has under that path, as a volume mount does, and the directories above it
 * (`/secrets`) show the image's entries beside the mounts. Nothing in the layer can be written, created, removed
 * or renamed: the host answers EACCES, what a read-only file and directory give.
 */
export class MountLayer {
  /** The layer's nodes by absolute path: mounted directories, their files, and the directories above them. */
  readonly nodes = new Map<string, DirNode | BaseFile>();
  /** Names the layer adds inside each directory ("/" included), sorted. */
  readonly children = new Map<string, string[]>();
  /** The highest inode number used (after the image's). */
  readonly maxIno: number;
  private readonly roots: string[];

  constructor(mounts: MountMap, image: FsImage) {
    let ino = image.maxIno;
    const child = (dir: string, name: string) => {
      const list = this.children.get(dir);
      if (list === undefined) this.children.set(dir, [name]);
      else if (!list.includes(name)) list.push(name);
    };
    const dir = (path: string): void => {
      if (this.nodes.has(path) || path === "/") return;
      this.nodes.set(path, { kind: FILETYPE_DIRECTORY, ino: ++ino, size: 0, mtim: 0, atim: 0 });
      const parent = parentOf(path);
      child(parent, path.slice(parent === "/" ? 1 : parent.length + 1));
      dir(parent);
    };
    this.roots = [...mounts.keys()].sort();
    for (const root of this.roots) {
      dir(root);
      this.children.set(root, []);
      for (const [name, data] of mounts.get(root) ?? []) {
        this.nodes.set(joinPath(root, name), {
          kind: FILETYPE_REGULAR_FILE,
          ino: ++ino,
          size: data.length,
          mtim: 0,
          atim: 0,
          data,
          nlink: 1,
        });
        child(root, name);
      }
    }
    for (const list of this.children.values()) list.sort();
    this.maxIno = ino;
  }

  /** True for a path below a mounted directory that the layer does not hold (the image's, hidden). */
  hides(path: string): boolean {
    for (const root of this.roots) if (path.startsWith(root) && path[root.length] === "/") return true;
    return false;
  }

  /** True when a change at `path` (create, write, remove, rename, times) would change the layer: refused. */
  readOnly(path: string): boolean {
    return this.nodes.has(path) || this.nodes.has(parentOf(path)) || this.hides(path);
  }

  /** True when `dir` is a mounted directory (its listing is the layer's alone). */
  isRoot(dir: string): boolean {
    return this.roots.includes(dir);
  }
}
