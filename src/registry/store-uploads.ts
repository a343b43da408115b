import { createHash, type Hash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { type Digest, type DigestAlgorithm, digestAlgorithm, isDigestAlgorithm } from "../core/index.js";
import type { SharedLock } from "./gc.js";
import { OciError } from "./oci-error.js";
import { BatchedAppend } from "./store-append.js";
import { type StoreLayout, settleAll } from "./store-layout.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What a 429 asks a client to wait: sessions free up as pushes finish, or when they go stale. */
const RETRY_AFTER_S = 60;

/** What we know of an upload while this process serves it: its running digest and size. */
interface UploadState {
  repo: string;
  /** What `hash` computes: the session's digest-algorithm (sha256 unless the client asked for another). */
  algorithm: DigestAlgorithm;
  hash: Hash;
  size: number;
  busy: boolean;
  /** The data on disk is fsynced as it stands: the last append was a final one (see Chunk.last). */
  synced: boolean;
}

export interface UploadLimits {
  /** Largest blob one upload may hold, in bytes (413 beyond). */
  maxUploadBytes: number;
  /** Upload sessions open at once, monolithic uploads included (429 beyond). */
  maxUploads: number;
}

/** What one append adds: the bytes a client declared, and where it says they go (a chunk's Content-Range). */
export interface Chunk {
  body: Readable;
  /** The body's declared length, if any: checked against the limit before a byte is written. */
  length?: number;
  /** Inclusive byte offsets the chunk covers; it must start where the upload ends (else 416). */
  range?: { start: number; end: number };
  /**
   * The upload's last chunk (a commit follows): the data is fsynced through the handle that wrote it, so the
   * commit need not open the file again to do it.
   */
  last?: boolean;
}

/**
 * Blob upload sessions on disk (uploads/<uuid>/): create, append streamed chunks, verify and commit into the
 * blob store, cancel, and expire. Hashing runs as the bytes arrive, so a commit does not read the data again.
 */
export class UploadSessions {
  private readonly uploads = new Map<string, UploadState>();
  /** The sessions on disk (read once, then kept here): what maxUploads counts. */
  private open: Promise<Set<string>> | undefined;

  constructor(
    private readonly layout: StoreLayout,
    private readonly limits: UploadLimits,
    private readonly lock: SharedLock,
  ) {}

  /** Stores a whole blob in one go (a monolithic upload): nothing is left behind if it fails. */
  async putWhole(repo: string, digest: Digest, chunk: Chunk): Promise<void> {
    const uuid = await this.create(repo, digestAlgorithm(digest));
    try {
      await this.append(repo, uuid, { ...chunk, last: true });
      await this.commit(repo, uuid, digest);
    } catch (e) {
      // The client never learnt where this session is: nothing could resume it.
      await this.drop(uuid);
      throw e;
    }
  }

  /**
   * Makes a new, empty session and returns its id; refuses with 429 when maxUploads are open. `algorithm` is
   * the one its bytes are hashed with as they arrive; a commit under another one reads them again.
   */
  async create(repo: string, algorithm: DigestAlgorithm = "sha256"): Promise<string> {
    this.open ??= this.layout.list(join(this.layout.root, "uploads")).then((ids) => new Set(ids));
    const open = await this.open;
    // Each session holds a directory and, in a monolithic upload, a request: without a bound a client could
    // open them faster than the sweep removes them, and fill the disk's inodes for every function.
    if (open.size >= this.limits.maxUploads)
      throw new OciError(
        429,
        "TOOMANYREQUESTS",
        `${open.size} uploads are in progress, the most this registry takes at once: retry later`,
        undefined,
        { "retry-after": String(RETRY_AFTER_S) },
      );
    const uuid = randomUUID();
    open.add(uuid);
    const dir = this.layout.uploadDir(uuid);
    try {
      await mkdir(dir, { recursive: true });
      // No fsync: a session lost in a crash is restarted by its client, and the data is fsynced before commit.
      await settleAll([
        writeFile(join(dir, "data"), ""),
        writeFile(join(dir, "info.json"), JSON.stringify({ repo, algorithm, started: Date.now() })),
      ]);
    } catch (e) {
      await this.drop(uuid);
      throw e;
    }
    this.uploads.set(uuid, {
      repo,
      algorithm,
      hash: createHash(algorithm),
      size: 0,
      busy: false,
      synced: false,
    });
    return uuid;
  }

  /** The bytes the session holds so far; 404 BLOB_UPLOAD_UNKNOWN when `repo` has no such session. */
  async size(repo: string, uuid: string): Promise<number> {
    return (await this.session(repo, uuid)).size;
  }

  /** Ends a session without storing anything. */
  async cancel(repo: string, uuid: string): Promise<void> {
    await this.session(repo, uuid);
    await this.drop(uuid);
  }

  /** Streams the chunk onto the end of the upload, hashing as it goes; never buffers the body. */
  async append(repo: string, uuid: string, chunk: Chunk): Promise<number> {
    const state = await this.session(repo, uuid);
    if (state.busy)
      throw new OciError(409, "BLOB_UPLOAD_INVALID", `upload ${uuid} is being written by another request`);
    const declared = chunk.length;
    if (chunk.range) {
      const { start, end } = chunk.range;
      if (start !== state.size || end < start)
        throw new OciError(
          416,
          "BLOB_UPLOAD_INVALID",
          `chunk ${start}-${end} does not start at offset ${state.size}`,
        );
      if (declared !== undefined && declared !== end - start + 1)
        throw new OciError(
          400,
          "SIZE_INVALID",
          `Content-Length ${declared} does not match Content-Range ${start}-${end}`,
        );
    }
    if (declared !== undefined && state.size + declared > this.limits.maxUploadBytes) {
      await this.drop(uuid);
      throw new OciError(
        413,
        "SIZE_INVALID",
        `blob would be over the ${this.limits.maxUploadBytes}-byte upload limit`,
      );
    }
    state.busy = true;
    state.synced = false;
    try {
      await this.receive(chunk.body, join(this.layout.uploadDir(uuid), "data"), state, chunk.last === true);
      state.synced = chunk.last === true;
    } catch (e) {
      // The disk, not the half-updated running hash, is the truth now: rebuild from it, or drop an oversize upload.
      if (e instanceof OciError && e.status === 413) await this.drop(uuid);
      else this.uploads.delete(uuid);
      throw e;
    } finally {
      state.busy = false;
    }
    return state.size;
  }

  /** Verifies the digest, fsyncs and renames the data into the blob store, and links it into the repository. */
  async commit(repo: string, uuid: string, digest: Digest): Promise<void> {
    const state = await this.session(repo, uuid);
    const dir = this.layout.uploadDir(uuid);
    const algorithm = digestAlgorithm(digest);
    const actual =
      algorithm === state.algorithm
        ? `${algorithm}:${state.hash.copy().digest("hex")}`
        : `${algorithm}:${(await this.hashFile(join(dir, "data"), algorithm)).hash.digest("hex")}`;
    if (actual !== digest) {
      await this.drop(uuid);
      throw new OciError(400, "DIGEST_INVALID", `uploaded content has digest ${actual}, not ${digest}`, {
        digest,
      });
    }
    const target = this.layout.blobPath(digest);
    const data = join(dir, "data");
    // Under the shared lock: a gc pass sees either no link (and the blob is not there yet, or too young) or both.
    // The content and the link are written side by side (their fsyncs overlap), and the 201 waits for both: a
    // crash in between can leave a link to a blob that is not there, which reads as absent (blobSize, a
    // manifest's check and a mount all look at the blob itself) until the client pushes it again.
    await this.lock.shared(() =>
      settleAll([
        this.layout.exists(target).then(async (stored) => {
          if (stored) return;
          if (!state.synced) await this.layout.fsyncFile(data);
          await this.layout.moveInto(data, target);
        }),
        this.layout.writeAtomic(this.layout.layerLink(repo, digest), ""),
      ]),
    );
    await this.drop(uuid);
  }

  /** Removes uploads untouched for longer than `maxAgeMs`; returns how many went. */
  async sweep(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const uuid of await this.layout.list(join(this.layout.root, "uploads"))) {
      const dir = this.layout.uploadDir(uuid);
      const times = await Promise.all(
        ["", "data", "info.json"].map((f) =>
          stat(join(dir, f)).then(
            (s) => s.mtimeMs,
            () => 0,
          ),
        ),
      );
      if (now - Math.max(...times) > maxAgeMs && !this.uploads.get(uuid)?.busy) {
        await this.drop(uuid);
        removed++;
      }
    }
    return removed;
  }

  /** Ends a session, committed or refused: its state, its directory and its place in the count. */
  private async drop(uuid: string): Promise<void> {
    this.uploads.delete(uuid);
    await this.layout.removeTree(this.layout.uploadDir(uuid));
    // Looked at after the removal: a count still being read from disk is then either without it or awaited here.
    const open = this.open;
    if (open) (await open).delete(uuid);
  }

  /** The upload's state, rebuilt from disk if this process did not start it (restart). */
  private async session(repo: string, uuid: string): Promise<UploadState> {
    const unknown = () => new OciError(404, "BLOB_UPLOAD_UNKNOWN", `upload ${uuid} is not known in ${repo}`);
    if (!UUID_RE.test(uuid)) throw unknown();
    const known = this.uploads.get(uuid);
    if (known) {
      if (known.repo !== repo) throw unknown();
      return known;
    }
    const text = await this.layout.readText(join(this.layout.uploadDir(uuid), "info.json"));
    const info = text === undefined ? undefined : (JSON.parse(text) as { repo?: string; algorithm?: string });
    if (!info || info.repo !== repo) throw unknown();
    let state = this.uploads.get(uuid);
    if (!state) {
      const algorithm =
        info.algorithm !== undefined && isDigestAlgorithm(info.algorithm) ? info.algorithm : "sha256";
      const { hash, size } = await this.hashFile(join(this.layout.uploadDir(uuid), "data"), algorithm);
      state = { repo, algorithm, hash, size, busy: false, synced: false };
      this.uploads.set(uuid, state);
    }
    return state;
  }

  /** Hashes a file from disk: a session this process did not start, or a commit under another algorithm. */
  private async hashFile(path: string, algorithm: DigestAlgorithm): Promise<{ hash: Hash; size: number }> {
    const hash = createHash(algorithm);
    let size = 0;
    for await (const c of createReadStream(path)) {
      hash.update(c as Buffer);
      size += (c as Buffer).length;
    }
    return { hash, size };
  }

  /** Appends the body to the file as it arrives, hashing it; with `sync`, fsyncs the file before it returns. */
  private async receive(body: Readable, file: string, state: UploadState, sync: boolean): Promise<void> {
    const aborted = () => new OciError(400, "BLOB_UPLOAD_INVALID", "the client aborted the upload");
    // A client that hung up while this request waited (for the disk, for the lock) has had its events already:
    // none would end this write, and the session would stay busy, refusing its client and skipped by sweeps.
    // Checked before the file is opened (the session is free again at once) and after, right before the
    // listeners go on.
    if (body.destroyed) throw aborted();
    const fh = await open(file, "a");
    const out = new BatchedAppend(fh);
    try {
      if (body.destroyed) throw aborted();
      await new Promise<void>((resolve, reject) => {
        let failed = false;
        const fail = (e: unknown) => {
          if (failed) return;
          failed = true;
          body.pause();
          body.removeAllListeners("data");
          reject(e);
        };
        body.on("data", (chunk: Buffer) => {
          if (state.size + chunk.length > this.limits.maxUploadBytes) {
            fail(
              new OciError(
                413,
                "SIZE_INVALID",
                `blob is over the ${this.limits.maxUploadBytes}-byte upload limit`,
              ),
            );
            return;
          }
          state.size += chunk.length;
          state.hash.update(chunk);
          const wait = out.add(chunk);
          if (wait) {
            body.pause();
            wait.then(() => {
              if (!failed) body.resume();
            }, fail);
          }
        });
        let ended = false;
        body.on("end", () => {
          ended = true;
          out.finish().then(() => {
            if (!failed) resolve();
          }, fail);
        });
        body.on("close", () => {
          if (!ended) fail(aborted());
        });
        body.on("error", fail);
      });
      if (sync) await fh.sync();
    } finally {
      await out.settled();
      await fh.close();
    }
  }
}
