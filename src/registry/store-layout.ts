import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { DIGEST_ALGORITHMS, type Digest, digestAlgorithm, isDigest } from "../core/index.js";

const ALGORITHM_BY_HEX_LENGTH = new Map<number, string>(
  Object.entries(DIGEST_ALGORITHMS).map(([alg, len]) => [len, alg]),
);

/** The digest a link's file name stands for (see the layout below), or undefined for a stray name. */
export function digestOfName(hex: string): Digest | undefined {
  const d = `${ALGORITHM_BY_HEX_LENGTH.get(hex.length)}:${hex}`;
  return isDigest(d) ? d : undefined;
}

/**
 * The embedded registry's disk layout under `root`:
 *   blobs/<alg>/ab/<hex>                        content (manifests too), written once, atomically
 *   repositories/<repo>/_layers/<hex>           the blob is in the repository (empty file)
 *   repositories/<repo>/_manifests/<hex>        the manifest is in the repository (holds its media type)
 *   repositories/<repo>/_tags/<tag>             holds the digest the tag points to
 *   repositories/<repo>/_referrers/<subject-hex>/<hex>   a manifest whose `subject` is that digest
 *   uploads/<uuid>/{data,info.json}             uploads in progress
 *   tmp/                                         staging for atomic writes; emptied when the owner starts
 * <alg> is sha256 or sha512. Links are named by the hex part alone, as before sha512 was accepted: the
 * algorithms' hex lengths differ (64, 128), so a name says its algorithm (digestOfName) and directories
 * written by earlier versions read unchanged.
 * Names starting with `_` cannot be repository components (the spec's name regex), so a repository's own
 * entries never collide with a nested repository's path.
 */
export class StoreLayout {
  private staging: Promise<string> | undefined;

  constructor(readonly root: string) {}

  hex(d: Digest): string {
    return d.slice(d.indexOf(":") + 1);
  }

  blobPath(d: Digest): string {
    const h = this.hex(d);
    return join(this.root, "blobs", digestAlgorithm(d), h.slice(0, 2), h);
  }

  repoDir(repo: string): string {
    return join(this.root, "repositories", ...repo.split("/"));
  }

  layerLink(repo: string, d: Digest): string {
    return join(this.repoDir(repo), "_layers", this.hex(d));
  }

  manifestLink(repo: string, d: Digest): string {
    return join(this.repoDir(repo), "_manifests", this.hex(d));
  }

  tagPath(repo: string, tag: string): string {
    return join(this.repoDir(repo), "_tags", tag);
  }

  referrersDir(repo: string, subject: Digest): string {
    return join(this.repoDir(repo), "_referrers", this.hex(subject));
  }

  uploadDir(uuid: string): string {
    return join(this.root, "uploads", uuid);
  }

  async exists(path: string): Promise<boolean> {
    return stat(path).then(
      () => true,
      () => false,
    );
  }

  async size(path: string): Promise<number | undefined> {
    return stat(path).then(
      (s) => s.size,
      () => undefined,
    );
  }

  /**
   * The staging directory for atomic writes, emptied once, before this instance's first write or when the
   * registry that owns the data directory starts: a write removes its file before it ends, so anything already
   * there was left by a process that died in between. Only the one process that writes may call this; router
   * processes, which only read, never do.
   */
  stagingDir(): Promise<string> {
    this.staging ??= (async () => {
      const dir = join(this.root, "tmp");
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      return dir;
    })().catch((e) => {
      this.staging = undefined;
      throw e;
    });
    return this.staging;
  }

  /** Writes a small file so that readers see the old content or the new one, never a part. */
  async writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
    const dir = await this.stagingDir();
    const tmp = join(dir, randomUUID());
    // Made once per instance, not per write; made again should someone have removed it since.
    const fh = await open(tmp, "w").catch(async () => {
      await mkdir(dir, { recursive: true });
      return open(tmp, "w");
    });
    try {
      try {
        await fh.writeFile(data);
        // An empty file (a link) has no data to flush: the directory fsync in moveInto makes it durable.
        if (data.length > 0) await fh.sync();
      } finally {
        await fh.close();
      }
      await this.moveInto(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** Renames a finished, fsynced file to its final place and makes the rename durable. */
  async moveInto(from: string, to: string): Promise<void> {
    const dir = join(to, "..");
    // The directory is made only when the rename finds it missing: most writes go to one that exists, and a
    // mkdir first was one more thread-pool round trip on every write of a push.
    await rename(from, to).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
      await mkdir(dir, { recursive: true });
      await rename(from, to);
    });
    const dh = await open(dir, "r");
    try {
      await dh.sync();
    } catch {
      // some filesystems refuse fsync on directories; the rename is still atomic
    } finally {
      await dh.close();
    }
  }

  async fsyncFile(path: string): Promise<void> {
    const fh = await open(path, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async readText(path: string): Promise<string | undefined> {
    return readFile(path, "utf8").then(
      (s) => s,
      () => undefined,
    );
  }

  async readBytes(path: string): Promise<Buffer | undefined> {
    return readFile(path).then(
      (b) => b,
      () => undefined,
    );
  }

  async list(dir: string): Promise<string[]> {
    return readdir(dir).then(
      (names) => names.sort(),
      () => [],
    );
  }

  async remove(path: string): Promise<boolean> {
    return unlink(path).then(
      () => true,
      () => false,
    );
  }

  async removeTree(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }

  async repoExists(repo: string): Promise<boolean> {
    const dir = this.repoDir(repo);
    for (const sub of ["_manifests", "_layers", "_tags"]) if (await this.exists(join(dir, sub))) return true;
    return false;
  }

  /** Every repository name, sorted. */
  async repositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      if (
        prefix &&
        entries.some((e) => e.isDirectory() && ["_manifests", "_layers", "_tags"].includes(e.name))
      )
        out.push(prefix);
      for (const e of entries)
        if (e.isDirectory() && !e.name.startsWith("_"))
          await walk(join(dir, e.name), prefix ? `${prefix}/${e.name}` : e.name);
    };
    await walk(join(this.root, "repositories"), "");
    return out.sort();
  }
}

/** Like Promise.all, but rejects only once every write has ended: no write outlives the call that made it. */
export async function settleAll(writes: Promise<unknown>[]): Promise<void> {
  for (const r of await Promise.allSettled(writes)) if (r.status === "rejected") throw r.reason;
}
