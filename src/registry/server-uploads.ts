import { createHash, type Hash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Digest } from "../core/index.js";
import type { SharedLock } from "./gc.js";
import { isRepositoryName } from "./reference.js";
import { parseDigestParam } from "./server-blobs.js";
import { drain, OciError, sendEmpty } from "./server-http.js";
import type { RegistryStorage } from "./server-storage.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What a 429 asks a client to wait: sessions free up as pushes finish, or when they go stale. */
const RETRY_AFTER_S = 60;

/** What we know of an upload while this process serves it: its running digest and size. */
interface UploadState {
  hash: Hash;
  size: number;
  busy: boolean;
}

export interface UploadLimits {
  /** Largest blob one upload may hold, in bytes (413 beyond). */
  maxUploadBytes: number;
  /** Upload sessions open at once, monolithic uploads included (429 beyond). */
  maxUploads: number;
}

/** Blob uploads: monolithic, POST+PUT, chunked PATCH, cross-repository mount; and their expiry. */
export class UploadHandlers {
  private readonly uploads = new Map<string, UploadState>();
  /** The sessions on disk (read once, then kept here): what maxUploads counts. */
  private open: Promise<Set<string>> | undefined;

  constructor(
    private readonly store: RegistryStorage,
    private readonly limits: UploadLimits,
    private readonly lock: SharedLock,
  ) {}

  /** POST /v2/<name>/blobs/uploads/ — mount, monolithic upload, or the start of a session. */
  async start(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    query: URLSearchParams,
  ): Promise<void> {
    const mount = query.get("mount");
    if (mount !== null) {
      const digest = parseDigestParam(mount, "mount");
      const from = query.get("from");
      const source =
        from !== null && isRepositoryName(from)
          ? this.store.layerLink(from, digest)
          : this.store.blobPath(digest);
      const mounted = await this.lock.shared(async () => {
        if (!(await this.store.exists(source)) || !(await this.store.exists(this.store.blobPath(digest))))
          return false;
        await this.store.writeAtomic(this.store.layerLink(repo, digest), "");
        return true;
      });
      if (mounted) {
        await drain(req);
        sendEmpty(res, 201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
        return;
      }
    }
    // Checked before the session exists, so that a refused request leaves nothing behind.
    const digestParam = query.get("digest");
    const digest =
      digestParam !== null && mount === null ? parseDigestParam(digestParam, "digest") : undefined;
    const uuid = await this.create(repo);
    if (digest) {
      try {
        await this.append(req, uuid, undefined);
        await this.commit(repo, uuid, digest);
      } catch (e) {
        // The client never learnt where this session is: nothing could resume it.
        await this.drop(uuid);
        throw e;
      }
      sendEmpty(res, 201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
      return;
    }
    await drain(req);
    sendEmpty(res, 202, {
      location: `/v2/${repo}/blobs/uploads/${uuid}`,
      "docker-upload-uuid": uuid,
      range: "0-0",
    });
  }

  /** PATCH: appends one chunk; with Content-Range it must start where the upload ends (else 416). */
  async patch(req: IncomingMessage, res: ServerResponse, repo: string, uuid: string): Promise<void> {
    const state = await this.session(repo, uuid);
    await this.append(req, uuid, req.headers["content-range"]);
    sendEmpty(res, 202, this.progressHeaders(repo, uuid, state.size));
  }

  /** PUT ?digest=: optional last chunk, then the digest check and the atomic move into the blob store. */
  async finish(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    uuid: string,
    query: URLSearchParams,
  ): Promise<void> {
    await this.session(repo, uuid);
    const digest = parseDigestParam(query.get("digest"), "digest");
    await this.append(req, uuid, req.headers["content-range"]);
    await this.commit(repo, uuid, digest);
    sendEmpty(res, 201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
  }

  async status(res: ServerResponse, repo: string, uuid: string): Promise<void> {
    const state = await this.session(repo, uuid);
    sendEmpty(res, 204, this.progressHeaders(repo, uuid, state.size));
  }

  async cancel(res: ServerResponse, repo: string, uuid: string): Promise<void> {
    await this.session(repo, uuid);
    await this.drop(uuid);
    sendEmpty(res, 204);
  }

  /** Removes uploads untouched for longer than `maxAgeMs`; returns how many went. */
  async sweepUploads(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const uuid of await this.store.list(join(this.store.root, "uploads"))) {
      const dir = this.store.uploadDir(uuid);
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

  /** Makes a new, empty session; refuses with 429 when maxUploads are open. */
  private async create(repo: string): Promise<string> {
    this.open ??= this.store.list(join(this.store.root, "uploads")).then((ids) => new Set(ids));
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
    const dir = this.store.uploadDir(uuid);
    try {
      await mkdir(dir, { recursive: true });
      // No fsync: a session lost in a crash is restarted by its client, and the data is fsynced before commit.
      await writeFile(join(dir, "data"), "");
      await writeFile(join(dir, "info.json"), JSON.stringify({ repo, started: Date.now() }));
    } catch (e) {
      await this.drop(uuid);
      throw e;
    }
    this.uploads.set(uuid, { hash: createHash("sha256"), size: 0, busy: false });
    return uuid;
  }

  /** Ends a session, committed or refused: its state, its directory and its place in the count. */
  private async drop(uuid: string): Promise<void> {
    this.uploads.delete(uuid);
    await this.store.removeTree(this.store.uploadDir(uuid));
    // Looked at after the removal: a count still being read from disk is then either without it or awaited here.
    const open = this.open;
    if (open) (await open).delete(uuid);
  }

  private progressHeaders(repo: string, uuid: string, size: number): Record<string, string> {
    return {
      location: `/v2/${repo}/blobs/uploads/${uuid}`,
      "docker-upload-uuid": uuid,
      range: `0-${Math.max(0, size - 1)}`,
    };
  }

  /** The upload's state, rebuilt from disk if this process did not start it (restart). */
  private async session(repo: string, uuid: string): Promise<UploadState> {
    const unknown = () => new OciError(404, "BLOB_UPLOAD_UNKNOWN", `upload ${uuid} is not known in ${repo}`);
    if (!UUID_RE.test(uuid)) throw unknown();
    const info = await this.store.readText(join(this.store.uploadDir(uuid), "info.json"));
    if (!info || (JSON.parse(info) as { repo?: string }).repo !== repo) throw unknown();
    let state = this.uploads.get(uuid);
    if (!state) {
      const hash = createHash("sha256");
      let size = 0;
      for await (const c of createReadStream(join(this.store.uploadDir(uuid), "data"))) {
        hash.update(c as Buffer);
        size += (c as Buffer).length;
      }
      state = { hash, size, busy: false };
      this.uploads.set(uuid, state);
    }
    return state;
  }

  /** Streams the request body onto the end of the upload, hashing as it goes; never buffers the body. */
  private async append(req: IncomingMessage, uuid: string, contentRange: string | undefined): Promise<void> {
    const state = this.uploads.get(uuid)!;
    if (state.busy)
      throw new OciError(409, "BLOB_UPLOAD_INVALID", `upload ${uuid} is being written by another request`);
    const declared =
      req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]);
    if (contentRange !== undefined) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(contentRange.trim());
      if (!m)
        throw new OciError(
          400,
          "BLOB_UPLOAD_INVALID",
          `Content-Range "${contentRange}" is not <start>-<end>`,
        );
      const [start, end] = [Number(m[1]), Number(m[2])];
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
    try {
      await this.receive(req, join(this.store.uploadDir(uuid), "data"), state);
    } catch (e) {
      // The disk, not the half-updated running hash, is the truth now: rebuild from it, or drop an oversize upload.
      if (e instanceof OciError && e.status === 413) await this.drop(uuid);
      else this.uploads.delete(uuid);
      throw e;
    } finally {
      state.busy = false;
    }
  }

  private receive(req: IncomingMessage, file: string, state: UploadState): Promise<void> {
    const aborted = () => new OciError(400, "BLOB_UPLOAD_INVALID", "the client aborted the upload");
    // A client that hung up while this request waited (for the disk, for the lock) has had its events already:
    // none would end this write, and the session would stay busy, refusing its client and skipped by sweeps.
    if (req.destroyed) return Promise.reject(aborted());
    return new Promise((resolve, reject) => {
      const out = createWriteStream(file, { flags: "a" });
      let failed = false;
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        req.pause();
        req.removeAllListeners("data");
        out.destroy();
        reject(e);
      };
      req.on("data", (chunk: Buffer) => {
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
        if (!out.write(chunk)) {
          req.pause();
          out.once("drain", () => req.resume());
        }
      });
      let ended = false;
      req.on("end", () => {
        ended = true;
        out.end();
      });
      req.on("close", () => {
        if (!ended) fail(aborted());
      });
      req.on("error", fail);
      out.on("error", fail);
      out.on("finish", () => {
        if (!failed) resolve();
      });
    });
  }

  /** Verifies the digest, fsyncs and renames the data into the blob store, and links it into the repository. */
  private async commit(repo: string, uuid: string, digest: Digest): Promise<void> {
    const state = this.uploads.get(uuid)!;
    const dir = this.store.uploadDir(uuid);
    const actual = `sha256:${state.hash.copy().digest("hex")}`;
    if (actual !== digest) {
      await this.drop(uuid);
      throw new OciError(400, "DIGEST_INVALID", `uploaded content has digest ${actual}, not ${digest}`, {
        digest,
      });
    }
    const target = this.store.blobPath(digest);
    if (!(await this.store.exists(target))) await this.store.fsyncFile(join(dir, "data"));
    // Under the shared lock: a gc pass sees either no link (and the blob is not there yet, or too young) or both.
    await this.lock.shared(async () => {
      if (!(await this.store.exists(target))) await this.store.moveInto(join(dir, "data"), target);
      await this.store.writeAtomic(this.store.layerLink(repo, digest), "");
    });
    await this.drop(uuid);
  }
}
