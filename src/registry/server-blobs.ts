import { createReadStream } from "node:fs";
import { utimes } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { type Digest, isDigest } from "../core/index.js";
import { API_VERSION_HEADER, OciError, parseRange, sendEmpty } from "./server-http.js";
import type { RegistryStorage } from "./server-storage.js";

export function parseDigestParam(s: string | null, field: string): Digest {
  if (s === null || s === "") throw new OciError(400, "DIGEST_INVALID", `${field}: a digest is required`);
  if (!s.startsWith("sha256:"))
    throw new OciError(400, "DIGEST_INVALID", `${field}: only sha256 digests are supported`);
  if (!isDigest(s))
    throw new OciError(400, "DIGEST_INVALID", `${field}: "${s}" is not sha256:<64 hex digits>`);
  return s;
}

/** Blob reads and deletes; uploads are in server-uploads.ts. */
export class BlobHandlers {
  constructor(private readonly store: RegistryStorage) {}

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
}
