import { join } from "node:path";
import { type Digest, digestAlgorithm, digestOf, isDigest } from "../core/index.js";
import { parseDigestParam } from "./digests.js";
import type { SharedLock } from "./gc.js";
import {
  type Descriptor,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  isForeignLayer,
  MANIFEST_TYPES,
  MEDIA_TYPES,
} from "./media-types.js";
import { OciError } from "./oci-error.js";
import { TAG_RE } from "./reference.js";
import { digestOfName, type StoreLayout, settleAll } from "./store-layout.js";

type Json = Record<string, unknown>;

function invalid(message: string, detail?: unknown): OciError {
  return new OciError(400, "MANIFEST_INVALID", message, detail);
}

function descriptor(v: unknown, field: string): Descriptor {
  const d = v as Descriptor | undefined;
  if (!d || typeof d !== "object" || typeof d.mediaType !== "string" || typeof d.size !== "number")
    throw invalid(`${field}: not a descriptor with mediaType, digest and size`);
  if (typeof d.digest !== "string" || !isDigest(d.digest))
    throw invalid(`${field}: digest "${String(d.digest)}" is not a sha256 or sha512 digest`);
  if (!Number.isSafeInteger(d.size) || d.size < 0)
    throw invalid(`${field}: size ${d.size} is not a byte count`, { field, digest: d.digest });
  return d;
}

/** A stored manifest: its content, digest and media type. */
export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/** What a manifest put stored. */
export interface PutManifestResult {
  digest: Digest;
  /** The digest of its `subject`, when it has one (the referrers API lists it under that digest). */
  subject?: Digest;
  /** Every tag now pointing at it. */
  tags: string[];
}

/** Manifests by tag or digest, tags, referrers and the repository list, over the store's disk layout. */
export class ManifestStore {
  constructor(
    private readonly layout: StoreLayout,
    private readonly lock: SharedLock,
  ) {}

  /**
   * The digest a tag or digest reference names in the repository, or 404 NAME_UNKNOWN / MANIFEST_UNKNOWN. A
   * reference that is neither a tag nor a supported digest names nothing stored: 404 MANIFEST_UNKNOWN, as the
   * spec wants for GET and HEAD (a `<tag-or-digest>` in no other format can never be found).
   */
  async resolve(repo: string, reference: string): Promise<{ digest: Digest; mediaType: string }> {
    const digest = await this.target(repo, reference);
    const mediaType = digest ? await this.layout.readText(this.layout.manifestLink(repo, digest)) : undefined;
    if (!digest || mediaType === undefined) throw await this.unknown(repo, reference);
    return { digest, mediaType };
  }

  /** The manifest a reference names, with its content; 404 as resolve(). */
  async get(repo: string, reference: string): Promise<StoredManifest> {
    const digest = await this.target(repo, reference);
    if (!digest) throw await this.unknown(repo, reference);
    // The link and the content are read side by side: a pull's first request waited for three reads in a row.
    const [mediaType, bytes] = await Promise.all([
      this.layout.readText(this.layout.manifestLink(repo, digest)),
      this.layout.readBytes(this.layout.blobPath(digest)),
    ]);
    if (mediaType === undefined) throw await this.unknown(repo, reference);
    if (bytes === undefined)
      throw new OciError(404, "MANIFEST_UNKNOWN", `manifest ${digest} content is missing`);
    return { digest, mediaType, bytes };
  }

  /** The digest a reference names (a tag read from disk), undefined for an unknown tag; 404 for a malformed one. */
  private async target(repo: string, reference: string): Promise<Digest | undefined> {
    if (isDigest(reference)) return reference;
    if (!TAG_RE.test(reference))
      throw new OciError(404, "MANIFEST_UNKNOWN", `reference "${reference}" is neither a tag nor a digest`, {
        reference,
      });
    const linked = (await this.layout.readText(this.layout.tagPath(repo, reference)))?.trim();
    return linked && isDigest(linked) ? linked : undefined;
  }

  /** Why a reference names no manifest here: the repository is unknown, or only the manifest is. */
  private async unknown(repo: string, reference: string): Promise<OciError> {
    if (!(await this.layout.repoExists(repo)))
      return new OciError(404, "NAME_UNKNOWN", `repository ${repo} is not known`);
    return new OciError(404, "MANIFEST_UNKNOWN", `manifest ${reference} is not in ${repo}`, { reference });
  }

  /**
   * Validates and stores a manifest under `reference` (a tag, or the digest it must have) and `extraTags`.
   * `contentType` is what the client declared. Everything it references must be in the repository with the
   * sizes its descriptors say (a client trusts a descriptor's size to bound what it reads).
   */
  async put(
    repo: string,
    reference: string,
    body: Buffer,
    contentType: string,
    extraTags: string[] = [],
  ): Promise<PutManifestResult> {
    // Stored under the algorithm the client named it by; sha256 when it pushes by tag.
    const named = reference.includes(":") ? parseDigestParam(reference, "reference") : undefined;
    const digest = digestOf(body, named ? digestAlgorithm(named) : "sha256");
    const tags = [...extraTags];
    if (named) {
      if (named !== digest)
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
    const mediaType = mediaTypeOf(contentType, json);
    if (json.schemaVersion !== 2) throw invalid("schemaVersion must be 2");
    // The check and the links happen under the shared lock: gc cannot delete a checked blob before it is linked.
    const subject = await this.lock.shared(async () => {
      const subject = await this.checkReferences(repo, mediaType, json);
      if (!(await this.layout.exists(this.layout.blobPath(digest))))
        await this.layout.writeAtomic(this.layout.blobPath(digest), body);
      await this.layout.writeAtomic(this.layout.manifestLink(repo, digest), mediaType);
      // Once the manifest is linked, what points at it (its referrers entry, its tags) goes side by side.
      await settleAll([
        ...(subject
          ? [
              this.layout.writeAtomic(
                join(this.layout.referrersDir(repo, subject), this.layout.hex(digest)),
                "",
              ),
            ]
          : []),
        ...tags.map((t) => this.layout.writeAtomic(this.layout.tagPath(repo, t), digest)),
      ]);
      return subject;
    });
    return { digest, subject, tags };
  }

  /**
   * Checks that what the manifest references is in the repository, with the sizes its descriptors say;
   * returns its subject digest, if any.
   */
  private async checkReferences(repo: string, mediaType: string, json: Json): Promise<Digest | undefined> {
    /** What must be in the repository: descriptor, its field, and the link that says the repository has it. */
    const wanted: [Descriptor, string, string][] = [];
    if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
      if (!Array.isArray(json.layers)) throw invalid("layers: an array is required");
      const blobs: [Descriptor, string][] = [
        [descriptor(json.config, "config"), "config"],
        ...json.layers.map((l, i): [Descriptor, string] => [descriptor(l, `layers[${i}]`), `layers[${i}]`]),
      ];
      for (const [d, field] of blobs)
        if (!isForeignLayer(d.mediaType))
          wanted.push([d, field, this.layout.layerLink(repo, d.digest as Digest)]);
    } else if (INDEX_TYPES.has(mediaType)) {
      if (!Array.isArray(json.manifests)) throw invalid("manifests: an array is required");
      for (const [i, m] of json.manifests.entries()) {
        const d = descriptor(m, `manifests[${i}]`);
        wanted.push([d, `manifests[${i}]`, this.layout.manifestLink(repo, d.digest as Digest)]);
      }
    }
    // All looked up at once, each link beside its content: one round of lookups for the whole manifest where
    // there were two in a row per descriptor. A link without its content counts as missing.
    const sizes = await Promise.all(
      wanted.map(async ([d, , link]) => {
        const [linked, size] = await Promise.all([
          this.layout.exists(link),
          this.layout.size(this.layout.blobPath(d.digest as Digest)),
        ]);
        return linked ? size : undefined;
      }),
    );
    const missing: string[] = [];
    const wrongSize: { field: string; digest: string; size: number; actual: number }[] = [];
    for (const [i, [d, field]] of wanted.entries()) {
      const size = sizes[i];
      if (size === undefined) missing.push(d.digest);
      else if (size !== d.size) wrongSize.push({ field, digest: d.digest, size: d.size, actual: size });
    }
    // What is missing first: a client that pushes it next may find the sizes right.
    if (missing.length)
      throw new OciError(
        400,
        "MANIFEST_BLOB_UNKNOWN",
        `the manifest references ${missing.join(", ")}, not in ${repo}`,
        { digests: missing },
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

  /** Deletes a tag, or a manifest by digest with every tag pointing at it; 404 MANIFEST_UNKNOWN if absent. */
  async delete(repo: string, reference: string): Promise<void> {
    if (!reference.includes(":")) {
      if (!TAG_RE.test(reference) || !(await this.layout.remove(this.layout.tagPath(repo, reference))))
        throw new OciError(404, "MANIFEST_UNKNOWN", `tag ${reference} is not in ${repo}`);
      return;
    }
    const { digest } = await this.resolve(repo, reference);
    for (const tag of await this.layout.list(join(this.layout.repoDir(repo), "_tags")))
      if ((await this.layout.readText(this.layout.tagPath(repo, tag)))?.trim() === digest)
        await this.layout.remove(this.layout.tagPath(repo, tag));
    const subject = (await this.readJson(digest))?.subject as Descriptor | undefined;
    if (subject && isDigest(subject.digest))
      await this.layout.remove(join(this.layout.referrersDir(repo, subject.digest), this.layout.hex(digest)));
    await this.layout.remove(this.layout.manifestLink(repo, digest));
  }

  private async readJson(digest: Digest): Promise<Json | undefined> {
    const text = await this.layout.readText(this.layout.blobPath(digest));
    try {
      return text === undefined ? undefined : JSON.parse(text);
    } catch {
      return undefined;
    }
  }

  /** The repository's tags, sorted; 404 NAME_UNKNOWN for a repository never pushed to. */
  async tags(repo: string): Promise<string[]> {
    if (!(await this.layout.repoExists(repo)))
      throw new OciError(404, "NAME_UNKNOWN", `repository ${repo} is not known`);
    return this.layout.list(join(this.layout.repoDir(repo), "_tags"));
  }

  /** Every repository name, sorted. */
  repositories(): Promise<string[]> {
    return this.layout.repositories();
  }

  /** Descriptors of the manifests whose subject is `subject`, those of `artifactType` only when it is given. */
  async referrers(repo: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const manifests: Descriptor[] = [];
    for (const name of await this.layout.list(this.layout.referrersDir(repo, subject))) {
      const digest = digestOfName(name);
      if (!digest) continue;
      const mediaType = await this.layout.readText(this.layout.manifestLink(repo, digest));
      const bytes = await this.layout.readBytes(this.layout.blobPath(digest));
      if (mediaType === undefined || bytes === undefined) continue;
      const m = JSON.parse(bytes.toString("utf8")) as Json;
      // An empty artifactType counts as none: an image manifest's config media type stands in for it.
      const type =
        typeof m.artifactType === "string" && m.artifactType !== ""
          ? m.artifactType
          : IMAGE_MANIFEST_TYPES.has(mediaType)
            ? (m.config as Descriptor | undefined)?.mediaType
            : undefined;
      if (artifactType && type !== artifactType) continue;
      const d: Descriptor = { mediaType, digest, size: bytes.length };
      if (type) d.artifactType = type;
      if (m.annotations && typeof m.annotations === "object")
        d.annotations = m.annotations as Record<string, string>;
      manifests.push(d);
    }
    return manifests;
  }
}

/** The manifest's media type: its own field, else the declared Content-Type, else what its shape says. */
function mediaTypeOf(contentType: string, json: Json): string {
  const header = contentType.split(";")[0].trim();
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
