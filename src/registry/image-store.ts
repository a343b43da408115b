import { readFile, rm, utimes } from "node:fs/promises";
import type { Writable } from "node:stream";
import { type Digest, type LoadedImage, matchesDigest, WasmletError } from "../core/index.js";
import { sendFileRange } from "./blob-send.js";
import { collectGarbage, type GcOptions, type GcResult, SharedLock } from "./gc.js";
import { builtHere, type ImageBundle } from "./image-build.js";
import { type ContentSource, loadImage } from "./image-load.js";
import { isRepositoryName } from "./reference.js";
import { StoreLayout, settleAll } from "./store-layout.js";
import { ManifestStore } from "./store-manifests.js";
import { UploadSessions } from "./store-uploads.js";

export interface ImageStoreOptions {
  /** Data directory for blobs, manifests, tags and uploads; created on first write. */
  root: string;
  /** Largest blob one upload may hold, in bytes (413 beyond). Default 1 GiB. */
  maxUploadBytes?: number;
  /** Upload sessions open at once (429 TOOMANYREQUESTS beyond). Default 1000. */
  maxUploads?: number;
  /** Uploads untouched for this long are removed by sweepUploads(). Default 1 hour. */
  staleUploadMs?: number;
  /**
   * How often the store sweeps stale uploads on its own; 0 disables it. Default 10 minutes. A store that
   * sweeps owns its data directory: it also sweeps at once, and empties the staging area a crash may have
   * left, when it starts. One with 0 (a router process that only reads) leaves both alone.
   */
  sweepIntervalMs?: number;
  /** Unreferenced blobs and links younger than this survive gc(): a push in progress. Default 1 hour. */
  gcGraceMs?: number;
}

/**
 * The embedded registry's storage, without HTTP: blobs, upload sessions, manifests, tags and referrers on disk,
 * images pushed and loaded in-process, and garbage collection. The /v2 front (RegistryServer) is a thin layer
 * over it; a router process opens one just to load images by digest.
 */
export class ImageStore {
  readonly uploads: UploadSessions;
  readonly manifests: ManifestStore;
  private readonly layout: StoreLayout;
  private readonly lock = new SharedLock();
  private readonly staleUploadMs: number;
  private readonly gcGraceMs: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly background = new Set<Promise<void>>();

  constructor(opts: ImageStoreOptions) {
    const layout = new StoreLayout(opts.root);
    this.layout = layout;
    this.uploads = new UploadSessions(
      layout,
      { maxUploadBytes: opts.maxUploadBytes ?? 1024 ** 3, maxUploads: opts.maxUploads ?? 1000 },
      this.lock,
    );
    this.manifests = new ManifestStore(layout, this.lock);
    this.gcGraceMs = opts.gcGraceMs ?? 60 * 60 * 1000;
    this.staleUploadMs = opts.staleUploadMs ?? 60 * 60 * 1000;
    const every = opts.sweepIntervalMs ?? 10 * 60 * 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweepInBackground(), every);
      this.timer.unref();
      // The store that sweeps owns the directory: what a crash left in tmp/ goes now, stale sessions too.
      this.sweepInBackground(layout.stagingDir());
    }
  }

  /** The data directory. */
  get root(): string {
    return this.layout.root;
  }

  /** The blob's size if `repo` holds it (pushed or mounted there), else undefined. */
  async blobSize(repo: string, digest: Digest): Promise<number | undefined> {
    // Both looked up at once: one thread-pool round trip where a pull waited for two in a row.
    const [linked, size] = await Promise.all([
      this.layout.exists(this.layout.layerLink(repo, digest)),
      this.layout.size(this.layout.blobPath(digest)),
    ]);
    return linked ? size : undefined;
  }

  /**
   * Writes the blob's bytes `start`..`end` (inclusive) to `out`, without ending it; the caller checked
   * blobSize() first. Rejects if `out` closes before.
   */
  sendBlob(digest: Digest, range: { start: number; end: number }, out: Writable): Promise<void> {
    return sendFileRange(this.layout.blobPath(digest), range.start, range.end, out);
  }

  /**
   * The whole blob if `repo` holds it, checked against its digest (a damaged file is an error, not content), else
   * undefined: for readers in this process (package sources), which need not reach the registry over HTTP.
   */
  async blobBytes(repo: string, digest: Digest): Promise<Uint8Array | undefined> {
    if ((await this.blobSize(repo, digest)) === undefined) return undefined;
    const bytes = new Uint8Array(await readFile(this.layout.blobPath(digest)));
    if (!matchesDigest(bytes, digest))
      throw new WasmletError("INTERNAL", `blob ${digest} of ${repo} in the embedded registry is damaged`);
    return bytes;
  }

  /**
   * Refreshes the blob's link in `repo`: a client that found a blob with HEAD skips uploading it and names it in
   * a manifest soon, and gc's grace period then covers that window as it covers a fresh upload.
   */
  async touchBlob(repo: string, digest: Digest): Promise<void> {
    const t = new Date();
    await utimes(this.layout.layerLink(repo, digest), t, t).catch(() => {});
  }

  /** Removes the blob from `repo` (only its link: other repositories may share it; gc frees the content). */
  deleteBlob(repo: string, digest: Digest): Promise<boolean> {
    return this.layout.remove(this.layout.layerLink(repo, digest));
  }

  /**
   * Links a stored blob into `repo` (a cross-repository mount) when `from` holds it or, without `from`, when
   * the store has it at all; false when it cannot.
   */
  mountBlob(repo: string, digest: Digest, from?: string): Promise<boolean> {
    const source =
      from !== undefined && isRepositoryName(from)
        ? this.layout.layerLink(from, digest)
        : this.layout.blobPath(digest);
    return this.lock.shared(async () => {
      if (!(await this.layout.exists(source)) || !(await this.layout.exists(this.layout.blobPath(digest))))
        return false;
      await this.layout.writeAtomic(this.layout.layerLink(repo, digest), "");
      return true;
    });
  }

  /**
   * The staging directory of the store's atomic writes, for a bundle's blobs written before it is pushed here
   * (BuildImageOptions.stageDir). Only the process that owns the store (the registry's writer) may ask.
   */
  stagingDir(): Promise<string> {
    return this.layout.stagingDir();
  }

  /**
   * Stores an image built in this process (function versions, package builds) as a push of the same content
   * would: blobs content-addressed and fsynced, linked into `repo`, then the manifest, then the tag.
   * Independent writes go in parallel, which matters on disks where every fsync costs milliseconds (a deploy is
   * ~3 fsync rounds instead of ~11 sequential ones). Verifies every digest it writes, unless `buildImage` made
   * the bundle here.
   */
  async pushLocal(repo: string, tag: string, bundle: ImageBundle): Promise<Digest> {
    // Blobs buildImage has written to the staging directory are renamed into place (or dropped when the
    // store has them already); whatever is left of them when this fails is removed.
    const staged = bundle.staged;
    bundle.staged = undefined;
    try {
      return await this.pushBundle(repo, tag, bundle, staged);
    } finally {
      if (staged) await Promise.all([...staged.values()].map((f) => rm(f, { force: true })));
    }
  }

  private async pushBundle(
    repo: string,
    tag: string,
    bundle: ImageBundle,
    staged: ReadonlyMap<Digest, string> | undefined,
  ): Promise<Digest> {
    if (!isRepositoryName(repo))
      throw new WasmletError("INVALID_ARGUMENT", `repository "${repo}" is not a valid name`);
    const layout = this.layout;
    const digest = bundle.manifestDigest;
    // Every digest is checked before anything is written (but those of a bundle built in this process, which were
    // computed from these very bytes): a bad bundle stores nothing, and no write is still running when this rejects.
    if (!builtHere(bundle))
      for (const [d, bytes] of [...bundle.blobs, [digest, bundle.manifest] as const]) {
        // A staged blob's file was hashed as it was written.
        if (staged?.has(d)) continue;
        if (!matchesDigest(bytes, d))
          throw new WasmletError("INTERNAL", `content does not match its digest ${d}`);
      }
    const write = async (d: Digest, bytes: Uint8Array) => {
      if (await layout.exists(layout.blobPath(d))) return;
      const file = staged?.get(d);
      if (file) await layout.moveInto(file, layout.blobPath(d));
      else await layout.writeAtomic(layout.blobPath(d), bytes);
    };
    // Under the shared lock, as a push over HTTP: gc never sees a manifest whose blobs it could still delete.
    await this.lock.shared(async () => {
      await settleAll([...bundle.blobs].map(([d, bytes]) => write(d, bytes)));
      await settleAll([
        ...[...bundle.blobs.keys()].map((d) => layout.writeAtomic(layout.layerLink(repo, d), "")),
        write(digest, bundle.manifest),
      ]);
      await layout.writeAtomic(layout.manifestLink(repo, digest), bundle.mediaType);
      await layout.writeAtomic(layout.tagPath(repo, tag), digest);
    });
    return digest;
  }

  /**
   * Loads an image from this store by manifest digest: how the serving processes run their functions (fast,
   * and independent of the port the registry listens on). Resolves undefined when the manifest is not stored
   * here; verifies every digest it reads.
   */
  async loadLocal(digest: Digest): Promise<LoadedImage | undefined> {
    const layout = this.layout;
    if (!(await layout.exists(layout.blobPath(digest)))) return undefined;
    const read = async (d: Digest): Promise<Uint8Array> => {
      const bytes = await layout.readBytes(layout.blobPath(d));
      if (!bytes) throw new Error(`blob ${d} is missing from the embedded registry`);
      if (!matchesDigest(bytes, d)) throw new Error(`blob ${d} is corrupt on disk`);
      return bytes;
    };
    const src: ContentSource = {
      async manifest(target) {
        const bytes = await read(target as Digest);
        const mediaType =
          (JSON.parse(Buffer.from(bytes).toString("utf8")) as { mediaType?: string }).mediaType ?? "";
        return { bytes, digest: target as Digest, mediaType };
      },
      blob: (desc) => read(desc.digest as Digest),
    };
    return loadImage(`embedded@${digest}`, src, digest);
  }

  /** Removes uploads untouched for longer than the stale age (default 1 h); returns how many went. */
  sweepUploads(maxAgeMs = this.staleUploadMs): Promise<number> {
    return this.uploads.sweep(maxAgeMs);
  }

  /**
   * Deletes blobs nothing references (see collectGarbage): not reachable from a tag, a manifest link or
   * `opts.roots`, and older than the grace period. Pushes wait while it runs; it never deletes a blob a push
   * has linked. Also sweeps stale uploads.
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const result = await this.lock.exclusive(() =>
      collectGarbage(this.layout, { graceMs: this.gcGraceMs, ...opts }),
    );
    await this.sweepUploads();
    return result;
  }

  /** Stops the sweep timer and waits for a sweep in progress. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.background]);
  }

  /** Sweeps stale uploads once `first` is done, logging a failure; close() waits for it. */
  private sweepInBackground(first: Promise<unknown> = Promise.resolve()): void {
    const work = first
      .then(() => this.sweepUploads())
      .then(
        () => {},
        (e) => console.error("registry: sweeping uploads failed", e),
      );
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }
}
