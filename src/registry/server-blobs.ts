import { createHash, type Hash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, stat, utimes, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { type Digest, isDigest } from "../core/index.js";
import type { SharedLock } from "./gc.js";
import { isRepositoryName } from "./reference.js";
import { API_VERSION_HEADER, drain, OciError, parseRange, sendEmpty } from "./server-http.js";
import type { RegistryStorage } from "./server-storage.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What we know of an upload while this process serves it: its running digest and size. */
interface UploadState {
  hash: Hash;
  size: number;
  busy: boolean;
}

export function parseDigestParam(s: string | null, field: string): Digest {
  if (s === null || s === "") throw new OciError(400, "DIGEST_INVALID", `${field}: a digest is required`);
  if (!s.startsWith("sha256:"))
    throw new OciError(400, "DIGEST_INVALID", `${field}: only sha256 digests are supported`);
  if (!isDigest(s))
    throw new OciError(400, "DIGEST_INVALID", `${field}: "${s}" is not sha256:<64 hex digits>`);
  return s;
}

/** Blob reads, deletes and uploads (monolithic, POST+PUT, chunked PATCH, cross-repository mount). */
export class BlobHandlers {
  private readonly uploads = new Map<string, UploadState>();

  constructor(
    private readonly store: RegistryStorage,
    private readonly maxUploadBytes: number,
    private readonly lock: SharedLock,
  ) {}

  async get(req: IncomingMessage, res: ServerResponse, repo: string, digestText: string): Promise<void> {
    const digest = parseDigestParam(digestText, "digest");
    const path = this.store.blobPath(digest);
    const size = (await this.store.exists(this.store.layerLink(repo, digest)))
      ? await this.store.size(path)
      : undefined;
    if (size === undefined)
      throw new OciError(404, "BLOB_UNKNOWN", `blob ${digest} is not in ${repo}`, { digest });
    const headers = {
      ...API_VERSION_HEADER,
      "docker-content-digest": digest,
      "content-type": "application/octet-stream",
      "accept-ranges": "bytes",
      etag: `"${digest}"`,
    };
    const range = parseRange(req.headers.range, size);
    if (range === null) {
      res.writeHead(416, { ...headers, "content-range": `bytes */${size}`, "content-length": 0 });
      res.end();
      return;
    }
    if (range) {
      res.writeHead(206, {
        ...headers,
        "content-range": `bytes ${range.start}-${range.end}/${size}`,
        "content-length": range.end - range.start + 1,
      });
    } else res.writeHead(200, { ...headers, "content-length": size });
    if (req.method === "HEAD") {
      // A client that finds a blob with HEAD skips uploading it and names it in a manifest soon: refreshing the
      // link's time makes gc's grace period cover that window, as it covers a fresh upload.
      const t = new Date();
      await utimes(this.store.layerLink(repo, digest), t, t).catch(() => {});
      res.end();
      return;
    }
    await pipeline(createReadStream(path, range ?? {}), res);
  }

  async delete(res: ServerResponse, repo: string, digestText: string): Promise<void> {
    const digest = parseDigestParam(digestText, "digest");
    // Only the repository's link goes: other repositories may share the content (no garbage collection yet).
    if (!(await this.store.remove(this.store.layerLink(repo, digest))))
      throw new OciError(404, "BLOB_UNKNOWN", `blob ${digest} is not in ${repo}`, { digest });
    sendEmpty(res, 202);
  }

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
    const uuid = randomUUID();
    const dir = this.store.uploadDir(uuid);
    await mkdir(dir, { recursive: true });
    // No fsync: a session lost in a crash is restarted by its client, and the data is fsynced before commit.
    await writeFile(join(dir, "data"), "");
    await writeFile(join(dir, "info.json"), JSON.stringify({ repo, started: Date.now() }));
    this.uploads.set(uuid, { hash: createHash("sha256"), size: 0, busy: false });
    const digestParam = query.get("digest");
    if (digestParam !== null && mount === null) {
      const digest = parseDigestParam(digestParam, "digest");
      await this.append(req, uuid, undefined);
      await this.commit(repo, uuid, digest);
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
    this.uploads.delete(uuid);
    await this.store.removeTree(this.store.uploadDir(uuid));
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
        this.uploads.delete(uuid);
        await this.store.removeTree(dir);
        removed++;
      }
    }
    return removed;
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
    if (declared !== undefined && state.size + declared > this.maxUploadBytes)
      throw new OciError(
        413,
        "SIZE_INVALID",
        `blob would be over the ${this.maxUploadBytes}-byte upload limit`,
      );
    state.busy = true;
    try {
      await this.receive(req, join(this.store.uploadDir(uuid), "data"), state);
    } catch (e) {
      // The disk, not the half-updated running hash, is the truth now: rebuild from it, or drop an oversize upload.
      this.uploads.delete(uuid);
      if (e instanceof OciError && e.status === 413) await this.store.removeTree(this.store.uploadDir(uuid));
      throw e;
    } finally {
      state.busy = false;
    }
  }

  private receive(req: IncomingMessage, file: string, state: UploadState): Promise<void> {
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
        if (state.size + chunk.length > this.maxUploadBytes) {
          fail(
            new OciError(413, "SIZE_INVALID", `blob is over the ${this.maxUploadBytes}-byte upload limit`),
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
      req.on("end", () => out.end());
      req.on("aborted", () =>
        fail(new OciError(400, "BLOB_UPLOAD_INVALID", "the client aborted the upload")),
      );
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
      this.uploads.delete(uuid);
      await this.store.removeTree(dir);
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
    this.uploads.delete(uuid);
    await this.store.removeTree(dir);
  }
}
