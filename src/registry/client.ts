import { readFile } from "node:fs/promises";
import {
  type Digest,
  digestAlgorithm,
  digestOf,
  isDigest,
  type LoadedImage,
  matchesDigest,
  WasmletError,
} from "../core/index.js";
import { basicHeader, fetchBearerToken, parseChallenge, type RegistryAuth } from "./client-auth.js";
import type { ImageBundle } from "./image-build.js";
import { type ContentSource, loadImage, resolveManifest } from "./image-load.js";
import { type Descriptor, MANIFEST_TYPES } from "./media-types.js";
import { formatReference, type ImageReference, parseReference, referenceTarget } from "./reference.js";

export interface RegistryClientOptions {
  /** Credentials for a registry host; called when a registry answers 401. Default: none (anonymous). */
  auth?: (registry: string) => RegistryAuth | undefined;
  /** Whether to speak plain HTTP to a host. Default: true for 127.*, localhost and [::1]. */
  plainHttp?: (registry: string) => boolean;
  /** Largest blob pull() accepts. Default 1 GiB. */
  maxBlobBytes?: number;
}

type Op = "pull" | "push";

/** What `inspect` tells about an image. */
export interface ImageDescription {
  /** The reference as parsed and normalized. */
  reference: string;
  /** Digest of the image manifest (for an index: of its wasm platform entry). */
  digest: Digest;
  /** Digest of the index the reference named, when it named one. */
  indexDigest?: Digest;
  mediaType: string;
  /** The image manifest, parsed. */
  manifest: Record<string, unknown>;
  /** The image config, parsed, when it is JSON. */
  config?: Record<string, unknown>;
}
const ACCEPT = [...MANIFEST_TYPES].join(", ");
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[")
    ? registry.slice(0, registry.indexOf("]") + 1)
    : registry.split(":")[0];
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What a registry said when it refused, for an error message. */
interface Failure {
  status?: number;
  code?: string;
  message?: string;
  cause?: unknown;
  /** No answer at all: the connection, DNS or TLS failed. */
  unreachable?: boolean;
}

/** What the registry answered, kept per error for callers that explain a failure (see `registryFailureOf`). */
const FAILURES = new WeakMap<WasmletError, RegistryFailure>();

/** What a registry answered when the client failed: see `registryFailureOf`. */
export interface RegistryFailure {
  /** The HTTP status of the refusal (a token service's refusal counts as 401). */
  status?: number;
  /** The OCI error code of the refusal: `UNAUTHORIZED`, `DENIED`, `NAME_UNKNOWN`… */
  code?: string;
  /** True when no answer came: the connection, DNS or TLS failed. */
  unreachable?: boolean;
}

/** What the registry answered behind an error this client threw; empty for anything else. */
export function registryFailureOf(e: unknown): RegistryFailure {
  return (e instanceof WasmletError && FAILURES.get(e)) || {};
}

/** The single translation of registry failures into WasmletErrors (pull/resolve vs push). */
function registryError(op: Op, ref: string, what: string, f: Failure): WasmletError {
  // A token service's refusal (client-auth.ts) counts as the registry's 401.
  const kept =
    f.cause instanceof WasmletError
      ? (FAILURES.get(f.cause) ??
        (f.cause.code === "UNAUTHORIZED" ? { status: 401, code: "UNAUTHORIZED" } : undefined))
      : undefined;
  const parts = [f.status !== undefined ? `HTTP ${f.status}` : undefined, f.code, f.message].filter(Boolean);
  const why = parts.length ? parts.join(" ") : f.cause instanceof Error ? f.cause.message : "failed";
  const code = op === "pull" ? "IMAGE_PULL_FAILED" : "UNAVAILABLE";
  const error = new WasmletError(
    code,
    `${op} ${ref}: ${what}: ${why}`,
    f.cause === undefined ? undefined : { cause: f.cause },
  );
  FAILURES.set(
    error,
    f.status !== undefined
      ? { status: f.status, code: f.code }
      : (kept ?? (f.unreachable ? { unreachable: true } : {})),
  );
  return error;
}

async function failureOf(res: Response): Promise<Failure> {
  const text = await res.text().catch(() => "");
  try {
    const first = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    if (first) return { status: res.status, code: first.code, message: first.message };
  } catch {
    // not the spec's JSON error body: keep the start of the text
  }
  return { status: res.status, message: text.slice(0, 200) || undefined };
}

/** An OCI distribution client: push, resolve and pull images, with basic and bearer auth. */
export class RegistryClient {
  private readonly authFor: (registry: string) => RegistryAuth | undefined;
  private readonly plainHttp: (registry: string) => boolean;
  private readonly maxBlobBytes: number;
  /** Authorization header that worked, per registry and scope, so later requests skip the 401 round trip. */
  private readonly authCache = new Map<string, string>();

  constructor(opts: RegistryClientOptions = {}) {
    this.authFor = opts.auth ?? (() => undefined);
    this.plainHttp = opts.plainHttp ?? isLoopbackRegistry;
    this.maxBlobBytes = opts.maxBlobBytes ?? 1024 ** 3;
  }

  /** Pushes blobs (skipping ones the registry has: HEAD first) then the manifest; returns the manifest digest. */
  async push(ref: string | ImageReference, bundle: ImageBundle): Promise<Digest> {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    const name = formatReference(r);
    if (!matchesDigest(bundle.manifest, bundle.manifestDigest))
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `push ${name}: the bundle's manifest does not match its digest`,
      );
    if (r.digest && r.digest !== bundle.manifestDigest)
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `push ${name}: the reference's digest is not the manifest's`,
      );
    for (const [digest, bytes] of bundle.blobs) {
      // A staged blob (ImageBundle.staged) is in its file only.
      const file = bundle.staged?.get(digest);
      await this.pushBlob(r, name, digest, file ? new Uint8Array(await readFile(file)) : bytes);
    }
    const res = await this.call(
      "push",
      r,
      name,
      `manifest ${referenceTarget(r)}`,
      "PUT",
      `manifests/${r.tag ?? bundle.manifestDigest}`,
      {
        headers: { "content-type": bundle.mediaType },
        body: bundle.manifest,
      },
    );
    if (res.status !== 201 && res.status !== 200)
      throw registryError("push", name, "manifest upload", await failureOf(res));
    await res.body?.cancel();
    const said = res.headers.get("docker-content-digest");
    if (said && isDigest(said) && said !== bundle.manifestDigest)
      throw registryError("push", name, "manifest upload", {
        message: `the registry stored digest ${said}, not ${bundle.manifestDigest}`,
      });
    return bundle.manifestDigest;
  }

  /** Resolves a tag (or digest) to the manifest digest; for an index, to the digest of the wasm platform manifest. */
  async resolve(ref: string | ImageReference): Promise<Digest> {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    return (await resolveManifest(formatReference(r), this.source(r), referenceTarget(r))).digest;
  }

  /**
   * The manifest an image reference resolves to (an index is followed to its wasm platform entry) and its config
   * when that is JSON; every digest verified. For `image inspect`.
   */
  async inspect(ref: string | ImageReference): Promise<ImageDescription> {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    const name = formatReference(r);
    const src = this.source(r);
    const top = await src.manifest(referenceTarget(r));
    const { digest, manifest, mediaType } = await resolveManifest(name, src, referenceTarget(r));
    const out: ImageDescription = { reference: name, digest, mediaType, manifest };
    if (top.digest !== digest) out.indexDigest = top.digest;
    const config = manifest.config as Descriptor | undefined;
    if (config && typeof config.digest === "string" && config.size <= MAX_MANIFEST_BYTES) {
      const bytes = await src.blob(config);
      try {
        out.config = JSON.parse(Buffer.from(bytes).toString("utf8"));
      } catch {
        // a config that is not JSON (some artifacts) is left out
      }
    }
    return out;
  }

  /** Repositories of a registry (`/v2/_catalog`), following `Link` pagination. */
  async repositories(registry: string): Promise<string[]> {
    const r: ImageReference = { registry, repository: "" };
    return this.paged(r, `${this.baseUrl(registry)}/v2/_catalog?n=1000`, "repositories");
  }

  /** Tags of a repository (`/v2/<name>/tags/list`), following `Link` pagination. */
  async tags(ref: string | ImageReference): Promise<string[]> {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    return this.paged(r, `${this.baseUrl(r.registry)}/v2/${r.repository}/tags/list?n=1000`, "tags");
  }

  private async paged(r: ImageReference, first: string, key: "repositories" | "tags"): Promise<string[]> {
    const name = r.repository ? formatReference(r) : r.registry;
    const out: string[] = [];
    for (let url: string | undefined = first, pages = 0; url && pages < 1000; pages++) {
      const res = await this.call("pull", r, name, key, "GET", new URL(url));
      if (!res.ok) throw registryError("pull", name, key, await failureOf(res));
      const body = (await res.json()) as Record<string, unknown>;
      const items = body[key];
      if (Array.isArray(items)) out.push(...items.filter((x): x is string => typeof x === "string"));
      const next = /<([^>]+)>;\s*rel="?next"?/.exec(res.headers.get("link") ?? "")?.[1];
      url = next ? new URL(next, url).toString() : undefined;
    }
    return out;
  }

  /** One blob of `ref`'s repository, by digest (at most the client's blob limit); its content is verified. */
  async blob(ref: string | ImageReference, digest: Digest): Promise<Uint8Array> {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    const name = formatReference(r);
    const res = await this.call("pull", r, name, `blob ${digest}`, "GET", `blobs/${digest}`);
    if (!res.ok) throw registryError("pull", name, `blob ${digest}`, await failureOf(res));
    const bytes = await this.readBody("pull", name, `blob ${digest}`, res, this.maxBlobBytes);
    if (!matchesDigest(bytes, digest))
      throw registryError("pull", name, `blob ${digest}`, { message: "content does not match its digest" });
    return bytes;
  }

  /** Pulls and unpacks an image into what the runtime runs; verifies every digest. */
  async pull(ref: string | ImageReference): Promise<LoadedImage> {
    const r = typeof ref === "string" ? parseReference(ref) : ref;
    return loadImage(formatReference(r), this.source(r), referenceTarget(r));
  }

  private async pushBlob(r: ImageReference, name: string, digest: Digest, bytes: Uint8Array): Promise<void> {
    if (!matchesDigest(bytes, digest))
      throw new WasmletError("INVALID_ARGUMENT", `push ${name}: blob ${digest} does not match its content`);
    const head = await this.call("push", r, name, `blob ${digest}`, "HEAD", `blobs/${digest}`);
    if (head.ok) return;
    const start = await this.call("push", r, name, `blob ${digest}`, "POST", "blobs/uploads/", {
      body: new Uint8Array(),
    });
    if (start.status !== 202)
      throw registryError("push", name, `blob ${digest} upload start`, await failureOf(start));
    await start.body?.cancel();
    const location = start.headers.get("location");
    if (!location)
      throw registryError("push", name, `blob ${digest}`, { message: "upload answered with no Location" });
    const url = new URL(location, this.baseUrl(r.registry));
    url.searchParams.set("digest", digest);
    const put = await this.call("push", r, name, `blob ${digest}`, "PUT", url, {
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });
    if (put.status !== 201) throw registryError("push", name, `blob ${digest} upload`, await failureOf(put));
    await put.body?.cancel();
  }

  /** Reads manifests and blobs of one repository, checking sizes and digests. */
  private source(r: ImageReference): ContentSource {
    const name = formatReference(r);
    return {
      manifest: async (target) => {
        const res = await this.call("pull", r, name, `manifest ${target}`, "GET", `manifests/${target}`, {
          headers: { accept: ACCEPT },
        });
        if (!res.ok) throw registryError("pull", name, `manifest ${target}`, await failureOf(res));
        const bytes = await this.readBody("pull", name, `manifest ${target}`, res, MAX_MANIFEST_BYTES);
        const said = res.headers.get("docker-content-digest");
        const expected = isDigest(target) ? target : said && isDigest(said) ? said : undefined;
        // Hashed as the digest it is checked against says (sha512 content is named by sha512 digests).
        const digest = digestOf(bytes, expected ? digestAlgorithm(expected) : "sha256");
        if (expected && expected !== digest)
          throw registryError("pull", name, `manifest ${target}`, {
            message: `content has digest ${digest}, expected ${expected}`,
          });
        return { bytes, digest, mediaType: (res.headers.get("content-type") ?? "").split(";")[0].trim() };
      },
      blob: async (d: Descriptor) => {
        if (d.size > this.maxBlobBytes)
          throw registryError("pull", name, `blob ${d.digest}`, {
            message: `size ${d.size} is over the ${this.maxBlobBytes}-byte limit`,
          });
        const res = await this.call("pull", r, name, `blob ${d.digest}`, "GET", `blobs/${d.digest}`);
        if (!res.ok) throw registryError("pull", name, `blob ${d.digest}`, await failureOf(res));
        const bytes = await this.readBody("pull", name, `blob ${d.digest}`, res, d.size);
        if (bytes.length !== d.size || !matchesDigest(bytes, d.digest as Digest))
          throw registryError("pull", name, `blob ${d.digest}`, {
            message: "content does not match its descriptor's digest and size",
          });
        return bytes;
      },
    };
  }

  /** Reads a body, refusing to buffer more than `max` bytes. */
  private async readBody(
    op: Op,
    name: string,
    what: string,
    res: Response,
    max: number,
  ): Promise<Uint8Array> {
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > max) {
      await res.body?.cancel();
      throw registryError(op, name, what, { message: `${declared} bytes is more than the ${max} expected` });
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      const reader = res.body?.getReader();
      for (;;) {
        const next = await reader?.read();
        if (!next || next.done) break;
        total += next.value.length;
        if (total > max) throw new Error(`more than the ${max} bytes expected`);
        chunks.push(next.value);
      }
    } catch (e) {
      await res.body?.cancel().catch(() => {});
      throw registryError(op, name, what, { cause: e });
    }
    return new Uint8Array(Buffer.concat(chunks));
  }

  private baseUrl(registry: string): string {
    const host = registry === "docker.io" ? "registry-1.docker.io" : registry;
    return `${this.plainHttp(registry) ? "http" : "https"}://${host}`;
  }

  /**
   * One request to the repository's API, anonymous (or with what worked before) first; on 401 it answers the
   * challenge (Basic: username/password; Bearer: token dance) and retries once.
   */
  private async call(
    op: Op,
    r: ImageReference,
    name: string,
    what: string,
    method: string,
    path: string | URL,
    init: { headers?: Record<string, string>; body?: Uint8Array } = {},
  ): Promise<Response> {
    const url = typeof path === "string" ? `${this.baseUrl(r.registry)}/v2/${r.repository}/${path}` : path;
    const scope = `repository:${r.repository}:${op === "push" ? "pull,push" : "pull"}`;
    const key = `${r.registry} ${scope}`;
    const send = (authorization?: string) =>
      fetch(url, {
        method,
        headers: { ...init.headers, ...(authorization ? { authorization } : {}) },
        // Node accepts any Uint8Array body; the DOM typings only name ArrayBuffer-backed ones.
        body: init.body as Uint8Array<ArrayBuffer> | undefined,
      });
    try {
      const res = await send(this.authCache.get(key));
      if (res.status !== 401) return res;
      const challenge = parseChallenge(res.headers.get("www-authenticate"));
      const creds = this.authFor(r.registry);
      let header: string | undefined;
      if (challenge?.scheme === "basic" && creds?.username !== undefined) header = basicHeader(creds);
      else if (challenge?.scheme === "bearer")
        header = `Bearer ${creds?.token ?? (await fetchBearerToken(challenge, scope, creds))}`;
      if (!header) return res;
      await res.body?.cancel();
      this.authCache.set(key, header);
      return await send(header);
    } catch (e) {
      throw registryError(
        op,
        name,
        what,
        e instanceof WasmletError ? { message: e.message, cause: e } : { cause: e, unreachable: true },
      );
    }
  }
}
