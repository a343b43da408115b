import {
  FILETYPE_CHARACTER_DEVICE,
  FILETYPE_DIRECTORY,
  FILETYPE_REGULAR_FILE,
  RIGHT_FD_READ,
  RIGHT_FD_WRITE,
  RIGHTS_ALL,
  RIGHTS_DIRECTORY,
  RIGHTS_DIRECTORY_INHERITING,
} from "./constants.js";
import type { Preopen } from "./fs-image.js";
import type { FileNode } from "./overlay-fs.js";

/** What an fd refers to. */
export const FD_STDIN = 0;
export const FD_STDOUT = 1;
export const FD_STDERR = 2;
export const FD_DIR = 3;
export const FD_FILE = 4;

const EMPTY = new Uint8Array(0);

/** Most fds open at once; path_open beyond it fails with EMFILE. */
const MAX_FDS = 1024;

/** One open file descriptor. Stdio and the preopen entries are reused across invocations (reset in place). */
export class FdEntry {
  /** Cursor of a file, or of stdin. */
  pos = 0;
  flags = 0;
  /** Directory listing cached for fd_readdir cookies, valid while the fs generation is unchanged. */
  listing: string[] | null = null;
  listingGeneration = -1;
  /** The preopen's name as fd_prestat_dir_name reports it, encoded once. */
  readonly name: Uint8Array;
  private readonly initialBase: bigint;
  private readonly initialInheriting: bigint;

  constructor(
    readonly type: number,
    /** Absolute path of a directory or file ("/" for the root preopen). */
    public path: string,
    readonly node: FileNode | null,
    public rightsBase: bigint,
    public rightsInheriting: bigint,
    /** The name of a preopened directory (fd_prestat_dir_name); null for any other fd. */
    preopenName: string | null = null,
  ) {
    this.name = preopenName !== null ? new TextEncoder().encode(preopenName) : EMPTY;
    this.preopen = preopenName !== null;
    this.initialBase = rightsBase;
    this.initialInheriting = rightsInheriting;
  }

  readonly preopen: boolean;

  get filetype(): number {
    if (this.type === FD_DIR) return FILETYPE_DIRECTORY;
    return this.type === FD_FILE ? FILETYPE_REGULAR_FILE : FILETYPE_CHARACTER_DEVICE;
  }

  get readable(): boolean {
    return (this.rightsBase & RIGHT_FD_READ) !== 0n;
  }

  get writable(): boolean {
    return (this.rightsBase & RIGHT_FD_WRITE) !== 0n;
  }

  reset(): void {
    this.pos = 0;
    this.flags = 0;
    this.listing = null;
    this.rightsBase = this.initialBase;
    this.rightsInheriting = this.initialInheriting;
  }
}

/**
 * The fd table of one invocation: 0-2 stdio, 3 the preopened "/", then the image's named preopens, then
 * whatever path_open returns.
 */
export class FdTable {
  private readonly fixed: readonly FdEntry[];
  private readonly entries: (FdEntry | undefined)[] = [];

  constructor(preopens: readonly Preopen[] = [{ name: "/", path: "/" }]) {
    this.fixed = [
      new FdEntry(FD_STDIN, "", null, RIGHTS_ALL, RIGHTS_ALL),
      new FdEntry(FD_STDOUT, "", null, RIGHTS_ALL, RIGHTS_ALL),
      new FdEntry(FD_STDERR, "", null, RIGHTS_ALL, RIGHTS_ALL),
      ...preopens.map(
        (p) => new FdEntry(FD_DIR, p.path, null, RIGHTS_DIRECTORY, RIGHTS_DIRECTORY_INHERITING, p.name),
      ),
    ];
  }

  /** Back to the four standard fds, each at its initial state. */
  reset(): void {
    this.entries.length = this.fixed.length;
    for (let i = 0; i < this.fixed.length; i++) {
      this.fixed[i].reset();
      this.entries[i] = this.fixed[i];
    }
  }

  get(fd: number): FdEntry | undefined {
    return this.entries[fd];
  }

  /** The lowest free fd for `entry`, or -1 when the table is full. */
  add(entry: FdEntry): number {
    let fd = 0;
    while (fd < this.entries.length && this.entries[fd] !== undefined) fd++;
    if (fd >= MAX_FDS) return -1;
    this.entries[fd] = entry;
    return fd;
  }

  remove(fd: number): void {
    if (fd === this.entries.length - 1) this.entries.length = fd;
    else this.entries[fd] = undefined;
  }

  /** Moves `from` onto `to` (which the caller closed); `from` becomes free. */
  move(from: number, to: number): void {
    this.entries[to] = this.entries[from];
    this.remove(from);
  }
}
