import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { type Digest, isDigest, sha256Digest } from "../core/index.js";
import type { SharedLock } from "./gc.js";
import {
  type Descriptor,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  isForeignLayer,
  MANIFEST_TYPES,
  MEDIA_TYPES,
} from "./media-types.js";
import { TAG_RE } from "./reference.js";
import { parseDigestParam } from "./server-blobs.js";
import { API_VERSION_HEADER, OciError, paginate, readSmallBody, sendEmpty, sendJson } from "./server-http.js";
import type { RegistryStorage } from "./server-storage.js";

/** The spec asks registries to take manifests of at least 4 MB. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

type Json = Record<string, unknown>;

function invalid(message: string, detail?: unknown): OciError {
  return new OciError(400, "MANIFEST_INVALID", message, detail);
}

function descriptor(v: unknown, field: string): Descriptor {
  const d = v as Descriptor | undefined;
  if (!d || typeof d !== "object" || typeof d.mediaType !== "string" || typeof d.size !== "number")
    throw invalid(`${field}: not a descriptor with mediaType, digest and size`);
  if (typeof d.digest !== "string" || !isDigest(d.digest))
    throw invalid(`${field}: digest "${String(d.digest)}" is not sha256`);
  if (!Number.isSafeInteger(d.size) || d.size < 0)
    throw invalid(`${field}: size ${d.size} is not a byte count`, { field, digest: d.digest });
  return d;
}

/** Manifests by tag or digest, tag lists, the referrers API and the catalog. */
export class ManifestHandlers {
  constructor(
    private readonly store: RegistryStorage,
    private readonly lock: SharedLock,
  ) {}

  /** The digest a tag or digest reference names in the repository, or a 404. */
  private async lookup(repo: string, reference: string): Promise<{ digest: Digest; mediaType: string }> {
    let digest: Digest | undefined;
    if (reference.includes(":")) digest = parseDigestParam(reference, "reference");
    else if (TAG_RE.test(reference)) {
      const linked = (await this.store.readText(this.store.tagPath(repo, reference)))?.trim();
      if (linked && isDigest(linked)) digest = linked;
    } else
      throw new OciError(400, "MANIFEST_INVALID", `reference "${reference}" is neither a tag nor a digest`);
    const mediaType = digest ? await this.store.readText(this.store.manifestLink(repo, digest)) : undefined;
    if (!digest || mediaType === undefined) {
      if (!(await this.store.repoExists(repo)))
        throw new OciError(404, "NAME_UNKNOWN", `repository ${repo} is not known`);
      throw new OciError(404, "MANIFEST_UNKNOWN", `manifest ${reference} is not in ${repo}`, { reference });
    }
    return { digest, mediaType };
  }

  async get(req: IncomingMessage, res: ServerResponse, repo: string, reference: string): Promise<void> {
    const { digest, mediaType } = await this.lookup(repo, reference);
    const bytes = await this.store.readBytes(this.store.blobPath(digest));
    if (bytes === undefined)
      throw new OciError(404, "MANIFEST_UNKNOWN", `manifest ${digest} content is missing`);
    res.writeHead(200, {
      ...API_VERSION_HEADER,
      "content-type": mediaType,
      "content-length": bytes.length,
      "docker-content-digest": digest,
      etag: `"${digest}"`,
    });
    res.end(req.method === "HEAD" ? undefined : bytes);
  }

  async put(
    req: IncomingMessage,
    res: ServerResponse,
    repo: string,
    reference: string,
    query: URLSearchParams,
  ): Promise<void> {
    const body = await readSmallBody(req, MAX_MANIFEST_BYTES);
    const digest = sha256Digest(body);
    const tags = query.getAll("tag");
    if (reference.includes(":")) {
      if (parseDigestParam(reference, "reference") !== digest)
        throw new OciError(400, "DIGEST_INVALID", `manifest content has digest ${digest}, not ${reference}`);
    } else tags.unshift(reference);
    for (const t of tags)
      if (!TAG_RE.test(t)) throw invalid(`tag "${t}" is not valid ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})`);
    let json: Json;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      throw invalid("the manifest is not valid JSON");
    }
    if (!json || typeof json !== "object" || Array.isArray(json))
      throw invalid("the manifest is not a JSON object");
    const mediaType = this.mediaTypeOf(req, json);
    if (json.schemaVersion !== 2) throw invalid("schemaVersion must be 2");
    // The check and the links happen under the shared lock: gc cannot delete a checked blob before it is linked.
    const subject = await this.lock.shared(async () => {
      const subject = await this.checkReferences(repo, mediaType, json);
      if (!(await this.store.exists(this.store.blobPath(digest))))
        await this.store.writeAtomic(this.store.blobPath(digest), body);
      await this.store.writeAtomic(this.store.manifestLink(repo, digest), mediaType);
      if (subject)
        await this.store.writeAtomic(
          join(this.store.referrersDir(repo, subject), this.store.hex(digest)),
          "",
        );
      for (const t of tags) await this.store.writeAtomic(this.store.tagPath(repo, t), digest);
      return subject;
    });
    const headers: Record<string, string> = {
      location: `/v2/${repo}/manifests/${digest}`,
      "docker-content-digest": digest,
    };
    if (subject) headers["oci-subject"] = subject;
    if (query.getAll("tag").length) headers["oci-tag"] = tags.join(", ");
    sendEmpty(res, 201, headers);
  }

  private mediaTypeOf(req: IncomingMessage, json: Json): string {
    const header = (req.headers["content-type"] ?? "").split(";")[0].trim();
    const field = typeof json.mediaType === "string" ? json.mediaType : undefined;
    if (field && MANIFEST_TYPES.has(header) && field !== header)
      throw invalid(`the manifest's mediaType ${field} differs from its Content-Type ${header}`);
    const type =
      field ??
      (MANIFEST_TYPES.has(header)
        ? header
        : Array.isArray(json.manifests)
          ? MEDIA_TYPES.index
          : MEDIA_TYPES.manifest);
    if (!MANIFEST_TYPES.has(type)) throw invalid(`media type "${type}" is not an accepted manifest type`);
    return type;
  }

  /**
   * Checks that what the manifest references is in the repository, with the sizes its descriptors say (a
   * client trusts a descriptor's size to bound what it reads); returns its subject digest, if any.
   */
  private async checkReferences(repo: string, mediaType: string, json: Json): Promise<Digest | undefined> {
    const missing: string[] = [];
    const wrongSize: { field: string; digest: string; size: number; actual: number }[] = [];
    const check = async (d: Descriptor, field: string, link: string) => {
      const size = (await this.store.exists(link))
        ? await this.store.size(this.store.blobPath(d.digest as Digest))
        : undefined;
      if (size === undefined) missing.push(d.digest);
      else if (size !== d.size) wrongSize.push({ field, digest: d.digest, size: d.size, actual: size });
    };
    if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
      if (!Array.isArray(json.layers)) throw invalid("layers: an array is required");
      const blobs: [Descriptor, string][] = [
        [descriptor(json.config, "config"), "config"],
        ...json.layers.map((l, i): [Descriptor, string] => [descriptor(l, `layers[${i}]`), `layers[${i}]`]),
      ];
      for (const [d, field] of blobs)
        if (!isForeignLayer(d.mediaType))
          await check(d, field, this.store.layerLink(repo, d.digest as Digest));
    } else if (INDEX_TYPES.has(mediaType)) {
      if (!Array.isArray(json.manifests)) throw invalid("manifests: an array is required");
      for (const [i, m] of json.manifests.entries()) {
        const d = descriptor(m, `manifests[${i}]`);
        await check(d, `manifests[${i}]`, this.store.manifestLink(repo, d.digest as Digest));
      }
    }
    // What is missing first: a client that pushes it next may find the sizes right.
    if (missing.length)
      throw new OciError(
        400,
        "MANIFEST_BLOB_UNKNOWN",
        `the manifest references ${missing.join(", ")}, not in ${repo}`,
        {
          digests: missing,
        },
      );
    if (wrongSize.length)
      throw invalid(
        wrongSize
          .map((w) => `${w.field}: size ${w.size} does not match ${w.digest}, which is ${w.actual} bytes`)
          .join("; "),
        { descriptors: wrongSize },
      );
    // The subject need not exist yet: referrers may be pushed before what they refer to.
    return json.subject === undefined ? undefined : (descriptor(json.subject, "subject").digest as Digest);
  }

  async delete(res: ServerResponse, repo: string, reference: string): Promise<void> {
    if (!reference.includes(":")) {
      if (!TAG_RE.test(reference) || !(await this.store.remove(this.store.tagPath(repo, reference))))
        throw new OciError(404, "MANIFEST_UNKNOWN", `tag ${reference} is not in ${repo}`);
      sendEmpty(res, 202);
      return;
    }
    const { digest } = await this.lookup(repo, reference);
    for (const tag of await this.store.list(join(this.store.repoDir(repo), "_tags")))
      if ((await this.store.readText(this.store.tagPath(repo, tag)))?.trim() === digest)
        await this.store.remove(this.store.tagPath(repo, tag));
    const subject = (await this.readManifest(digest))?.subject as Descriptor | undefined;
    if (subject && isDigest(subject.digest))
      await this.store.remove(join(this.store.referrersDir(repo, subject.digest), this.store.hex(digest)));
    await this.store.remove(this.store.manifestLink(repo, digest));
    sendEmpty(res, 202);
  }

  private async readManifest(digest: Digest): Promise<Json | undefined> {
    const text = await this.store.readText(this.store.blobPath(digest));
    try {
      return text === undefined ? undefined : JSON.parse(text);
    } catch {
      return undefined;
    }
  }

  async tags(res: ServerResponse, repo: string, query: URLSearchParams): Promise<void> {
    if (!(await this.store.repoExists(repo)))
      throw new OciError(404, "NAME_UNKNOWN", `repository ${repo} is not known`);
    const all = await this.store.list(join(this.store.repoDir(repo), "_tags"));
    const { page, headers } = paginate(
      all,
      query,
      (n, last) => `/v2/${repo}/tags/list?n=${n}&last=${encodeURIComponent(last)}`,
    );
    sendJson(res, 200, { name: repo, tags: page }, headers);
  }

  async catalog(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const all = await this.store.repositories();
    const { page, headers } = paginate(
      all,
      query,
      (n, last) => `/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`,
    );
    sendJson(res, 200, { repositories: page }, headers);
  }

  /** GET /v2/<name>/referrers/<digest>: an index of the manifests whose subject is that digest. */
  async referrers(
    res: ServerResponse,
    repo: string,
    digestText: string,
    query: URLSearchParams,
  ): Promise<void> {
    const subject = parseDigestParam(digestText, "digest");
    const filter = query.get("artifactType");
    const manifests: Descriptor[] = [];
    for (const hex of await this.store.list(this.store.referrersDir(repo, subject))) {
      const digest = `sha256:${hex}` as Digest;
      const mediaType = await this.store.readText(this.store.manifestLink(repo, digest));
      const bytes = await this.store.readBytes(this.store.blobPath(digest));
      if (mediaType === undefined || bytes === undefined) continue;
      const m = JSON.parse(bytes.toString("utf8")) as Json;
      const artifactType =
        typeof m.artifactType === "string"
          ? m.artifactType
          : IMAGE_MANIFEST_TYPES.has(mediaType)
            ? (m.config as Descriptor | undefined)?.mediaType
            : undefined;
      if (filter && artifactType !== filter) continue;
      const d: Descriptor = { mediaType, digest, size: bytes.length };
      if (artifactType) d.artifactType = artifactType;
      if (m.annotations && typeof m.annotations === "object")
        d.annotations = m.annotations as Record<string, string>;
      manifests.push(d);
    }
    const headers: Record<string, string> = filter ? { "oci-filters-applied": "artifactType" } : {};
    sendJson(
      res,
      200,
      { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests },
      headers,
      MEDIA_TYPES.index,
    );
  }
}
