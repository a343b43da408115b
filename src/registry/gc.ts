import { stat } from "node:fs/promises";
import { join } from "node:path";
import { DIGEST_ALGORITHMS, type Digest, isDigest } from "../core/index.js";
import { digestOfName, type StoreLayout } from "./store-layout.js";

/** What one garbage collection pass removed. */
export interface GcResult {
  /** How many blobs (manifests included) were deleted from the blob store. */
  deletedBlobs: number;
  /** Sum of their sizes, in bytes. */
  freedBytes: number;
}

export interface GcOptions {
  /** Manifest (or blob) digests kept alive from outside the registry, e.g. every function version's digest. */
  roots?: Iterable<Digest>;
  /** Blobs and repository links younger than this are kept even when unreferenced (a push in progress). */
  graceMs?: number;
}

/**
 * A readers-writer lock without fairness guarantees beyond FIFO for the writer: pushes (blob commit, mount,
 * manifest PUT) share it; a gc pass takes it alone, so no push can link a blob between gc's mark and its sweep.
 */
export class SharedLock {
  private readers = 0;
  private writer: Promise<void> | undefined;
  private readonly drained: (() => void)[] = [];

  /** Runs `fn` while no exclusive holder runs; any number of shared holders run at once. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0) for (const wake of this.drained.splice(0)) wake();
    }
  }

  /** Runs `fn` alone: waits for shared holders to finish and keeps new ones waiting until it is done. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    let release!: () => void;
    this.writer = new Promise((r) => {
      release = r;
    });
    try {
      if (this.readers > 0) await new Promise<void>((r) => this.drained.push(r));
      return await fn();
    } finally {
      this.writer = undefined;
      release();
    }
  }
}

type Json = Record<string, unknown>;

function digestsIn(json: Json): Digest[] {
  const out: Digest[] = [];
  const add = (d: unknown) => {
    const digest = (d as { digest?: unknown } | undefined)?.digest;
    if (typeof digest === "string" && isDigest(digest)) out.push(digest);
  };
  add(json.config);
  add(json.subject);
  for (const list of [json.layers, json.manifests, json.blobs])
    if (Array.isArray(list)) for (const d of list) add(d);
  return out;
}

async function mtime(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
}

/**
 * Mark and sweep over the embedded registry's disk layout. Roots: every tag and every manifest link of every
 * repository, every repository link (blob pushed or mounted) younger than the grace period, and `opts.roots`.
 * From a root it follows what a manifest names (config, layers, index children, subject). It deletes blob
 * files that are unmarked and older than the grace period, removing their repository links first, so a
 * manifest PUT never sees a link to a deleted blob. The caller holds the registry's lock exclusively.
 */
export async function collectGarbage(store: StoreLayout, opts: GcOptions = {}): Promise<GcResult> {
  const graceMs = opts.graceMs ?? 60 * 60 * 1000;
  const now = Date.now();
  const young = (t: number | undefined) => t !== undefined && now - t < graceMs;
  const pending: Digest[] = [...(opts.roots ?? [])];
  const links = new Map<Digest, string[]>();
  for (const repo of await store.repositories()) {
    const dir = store.repoDir(repo);
    for (const tag of await store.list(join(dir, "_tags"))) {
      const d = (await store.readText(store.tagPath(repo, tag)))?.trim();
      if (d && isDigest(d)) pending.push(d);
    }
    for (const name of await store.list(join(dir, "_manifests"))) {
      const d = digestOfName(name);
      if (d) pending.push(d);
    }
    for (const name of await store.list(join(dir, "_layers"))) {
      const d = digestOfName(name);
      if (!d) continue;
      const link = store.layerLink(repo, d);
      links.set(d, [...(links.get(d) ?? []), link]);
      if (young(await mtime(link))) pending.push(d);
    }
  }
  const marked = new Set<Digest>();
  while (pending.length > 0) {
    const d = pending.pop()!;
    if (marked.has(d)) continue;
    marked.add(d);
    const bytes = await store.readBytes(store.blobPath(d));
    // Only small JSON documents can be manifests; layers are not parsed.
    if (!bytes || bytes.length > 4 * 1024 * 1024 || bytes[0] !== 0x7b) continue;
    try {
      pending.push(...digestsIn(JSON.parse(bytes.toString("utf8")) as Json));
    } catch {
      // a blob that merely starts with "{": not a manifest
    }
  }
  const result: GcResult = { deletedBlobs: 0, freedBytes: 0 };
  for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
    const blobsDir = join(store.root, "blobs", algorithm);
    for (const prefix of await store.list(blobsDir)) {
      for (const hex of await store.list(join(blobsDir, prefix))) {
        const d = `${algorithm}:${hex}`;
        if (!isDigest(d) || marked.has(d)) continue;
        const path = store.blobPath(d);
        const s = await stat(path).catch(() => undefined);
        if (!s || young(s.mtimeMs)) continue;
        for (const link of links.get(d) ?? []) await store.remove(link);
        if (await store.remove(path)) {
          result.deletedBlobs++;
          result.freedBytes += s.size;
        }
      }
    }
  }
  return result;
}
