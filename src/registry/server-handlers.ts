import type { IncomingMessage, ServerResponse } from "node:http";
import { drainBody } from "../http/index.js";
import { parseAlgorithmParam, parseDigestParam } from "./digests.js";
import type { ImageStore } from "./image-store.js";
import { type Descriptor, MEDIA_TYPES } from "./media-types.js";
import { OciError } from "./oci-error.js";
import {
  API_VERSION_HEADER,
  paginate,
  parseRange,
  readSmallBody,
  sendEmpty,
  sendJson,
} from "./server-http.js";
import type { Chunk } from "./store-uploads.js";

/** The spec asks registries to take manifests of at least 4 MB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** The request's body as an upload chunk: its declared length, and its Content-Range when `ranged`. */
function chunkOf(req: IncomingMessage, ranged: boolean): Chunk {
  const length =
    req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]);
  const header = ranged ? req.headers["content-range"] : undefined;
  if (header === undefined) return { body: req, length };
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(header.trim());
  if (!m) throw new OciError(400, "BLOB_UPLOAD_INVALID", `Content-Range "${header}" is not <start>-<end>`);
  return { body: req, length, range: { start: Number(m[1]), end: Number(m[2]) } };
}

function uploadHeaders(repo: string, uuid: string, size: number): Record<string, string> {
  return {
    location: `/v2/${repo}/blobs/uploads/${uuid}`,
    "docker-upload-uuid": uuid,
    range: `0-${Math.max(0, size - 1)}`,
  };
}

/** The /v2 endpoints as thin translations between HTTP and the ImageStore. */
export class RegistryHandlers {
  constructor(
    private readonly store: ImageStore,
    /** Largest referrers answer, in bytes of JSON: beyond it the list goes on in the next page (Link). */
    private readonly referrersPageBytes = MAX_MANIFEST_BYTES,
  ) {}

  async getBlob(req: IncomingMessage, res: ServerResponse, repo: string, digestText: string): Promise<void> {
    const digest = parseDigestParam(digestText, "digest");
    const size = await this.store.blobSize(repo, digest);
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
      await this.store.touchBlob(repo, digest);
      res.end();
      return;
    }
    if (size > 0) await this.store.sendBlob(digest, range ?? { start: 0, end: size - 1 }, res);
    res.end();
  }

  async deleteBlob(res: ServerResponse, repo: string, digestText: string): Promise<void> {
    const digest = parseDigestParam(digestText, "digest");
    if (!(await this.store.deleteBlob(repo, digest)))
      throw new OciError(404, "BLOB_UNKNOWN", `blob ${digest} is not in ${repo}`, { digest });
    sendEmpty(res, 202);
  }

  /** POST /v2/<name>/blobs/uploads/ — mount, monolithic upload, or the start of a session. */
  async startUpload(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    query: URLSearchParams,
  ): Promise<void> {
    const mount = query.get("mount");
    if (mount !== null) {
      const digest = parseDigestParam(mount, "mount");
      if (await this.store.mountBlob(repo, digest, query.get("from") ?? undefined)) {
        await drainBody(req);
        sendEmpty(res, 201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
        return;
      }
    }
    const digestParam = query.get("digest");
    if (digestParam !== null && mount === null) {
      const digest = parseDigestParam(digestParam, "digest");
      await this.store.uploads.putWhole(repo, digest, chunkOf(req, false));
      sendEmpty(res, 201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
      return;
    }
    const uuid = await this.store.uploads.create(repo, parseAlgorithmParam(query.get("digest-algorithm")));
    await drainBody(req);
    sendEmpty(res, 202, uploadHeaders(repo, uuid, 0));
  }

  /** PATCH: appends one chunk; with Content-Range it must start where the upload ends (else 416). */
  async patchUpload(req: IncomingMessage, res: ServerResponse, repo: string, uuid: string): Promise<void> {
    const size = await this.store.uploads.append(repo, uuid, chunkOf(req, true));
    sendEmpty(res, 202, uploadHeaders(repo, uuid, size));
  }

  /** PUT ?digest=: optional last chunk, then the digest check and the atomic move into the blob store. */
  async finishUpload(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    uuid: string,
    query: URLSearchParams,
  ): Promise<void> {
    await this.store.uploads.size(repo, uuid);
    const digest = parseDigestParam(query.get("digest"), "digest");
    await this.store.uploads.append(repo, uuid, { ...chunkOf(req, true), last: true });
    await this.store.uploads.commit(repo, uuid, digest);
    sendEmpty(res, 201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
  }

  async uploadStatus(res: ServerResponse, repo: string, uuid: string): Promise<void> {
    sendEmpty(res, 204, uploadHeaders(repo, uuid, await this.store.uploads.size(repo, uuid)));
  }

  async cancelUpload(res: ServerResponse, repo: string, uuid: string): Promise<void> {
    await this.store.uploads.cancel(repo, uuid);
    sendEmpty(res, 204);
  }

  async getManifest(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    reference: string,
  ): Promise<void> {
    const { digest, mediaType, bytes } = await this.store.manifests.get(repo, reference);
    res.writeHead(200, {
      ...API_VERSION_HEADER,
      "content-type": mediaType,
      "content-length": bytes.length,
      "docker-content-digest": digest,
      etag: `"${digest}"`,
    });
    res.end(req.method === "HEAD" ? undefined : bytes);
  }

  async putManifest(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    reference: string,
    query: URLSearchParams,
  ): Promise<void> {
    const body = await readSmallBody(req, MAX_MANIFEST_BYTES);
    const extra = query.getAll("tag");
    const put = await this.store.manifests.put(
      repo,
      reference,
      body,
      req.headers["content-type"] ?? "",
      extra,
    );
    const headers: Record<string, string> = {
      location: `/v2/${repo}/manifests/${put.digest}`,
      "docker-content-digest": put.digest,
    };
    if (put.subject) headers["oci-subject"] = put.subject;
    if (extra.length) headers["oci-tag"] = put.tags.join(", ");
    sendEmpty(res, 201, headers);
  }

  async deleteManifest(res: ServerResponse, repo: string, reference: string): Promise<void> {
    await this.store.manifests.delete(repo, reference);
    sendEmpty(res, 202);
  }

  async tags(res: ServerResponse, repo: string, query: URLSearchParams): Promise<void> {
    const { page, headers } = paginate(
      await this.store.manifests.tags(repo),
      query,
      (n, last) => `/v2/${repo}/tags/list?n=${n}&last=${encodeURIComponent(last)}`,
    );
    sendJson(res, 200, { name: repo, tags: page }, headers);
  }

  async catalog(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const { page, headers } = paginate(
      await this.store.manifests.repositories(),
      query,
      (n, last) => `/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`,
    );
    sendJson(res, 200, { repositories: page }, headers);
  }

  /**
   * GET /v2/<name>/referrers/<digest>: an image index of the manifests whose subject is that digest, in digest
   * order. The spec pages this list only when it cannot be returned as a single manifest: a page holds what fits
   * in `referrersPageBytes`, and its Link names the next one by the last digest it holds (`last=`).
   */
  async referrers(
    res: ServerResponse,
    repo: string,
    digestText: string,
    query: URLSearchParams,
  ): Promise<void> {
    const subject = parseDigestParam(digestText, "digest");
    const filter = query.get("artifactType") || undefined;
    const last = query.get("last");
    const all = (await this.store.manifests.referrers(repo, subject, filter))
      .filter((d) => last === null || d.digest > last)
      .sort((a, b) => (a.digest < b.digest ? -1 : 1));
    const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [] as Descriptor[] };
    let size = JSON.stringify(index).length;
    for (const d of all) {
      const more = JSON.stringify(d).length + 1;
      // A page always holds one descriptor, however large: otherwise a client could never get past it.
      if (index.manifests.length > 0 && size + more > this.referrersPageBytes) break;
      index.manifests.push(d);
      size += more;
    }
    const headers: Record<string, string> = filter ? { "oci-filters-applied": "artifactType" } : {};
    if (index.manifests.length < all.length) {
      const next = new URLSearchParams({ last: index.manifests[index.manifests.length - 1].digest });
      if (filter) next.set("artifactType", filter);
      headers.link = `</v2/${repo}/referrers/${subject}?${next}>; rel="next"`;
    }
    sendJson(res, 200, index, headers, MEDIA_TYPES.index);
  }
}
