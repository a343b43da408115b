import type { IncomingMessage, ServerResponse } from "node:http";
import { type Digest, type LoadedImage, sha256Digest, WasmletError } from "../core/index.js";
import { collectGarbage, type GcOptions, type GcResult, SharedLock } from "./gc.js";
import type { ImageBundle } from "./image-build.js";
import { type ContentSource, loadImage } from "./image-load.js";
import { isRepositoryName } from "./reference.js";
import { TOKEN_PATH, TokenGate } from "./server-auth.js";
import { BlobHandlers } from "./server-blobs.js";
import { OciError, sendEmpty, sendError, sendJson } from "./server-http.js";
import { ManifestHandlers } from "./server-manifests.js";
import { RegistryStorage } from "./server-storage.js";
import { UploadHandlers } from "./server-uploads.js";

export interface RegistryServerOptions {
  /** Data directory for blobs, manifests, tags and uploads; created on first write. */
  root: string;
  /** Largest blob one upload may hold, in bytes (413 beyond). Default 1 GiB. */
  maxUploadBytes?: number;
  /** Upload sessions open at once (429 TOOMANYREQUESTS beyond). Default 1000. */
  maxUploads?: number;
  /** Uploads untouched for this long are removed by sweepUploads(). Default 1 hour. */
  staleUploadMs?: number;
  /**
   * How often the server sweeps stale uploads on its own; 0 disables it. Default 10 minutes. A registry that
   * sweeps owns its data directory: it also sweeps at once, and empties the staging area a crash may have
   * left, when it starts. One with 0 (a router process that only reads) leaves both alone.
   */
  sweepIntervalMs?: number;
  /**
   * The control token: every /v2 request must present it, as `Bearer <token>` or as the password of Basic
   * credentials, and /v2/token trades it for a bearer token (the Docker token flow). Default: no check.
   */
  token?: string;
  /** Unreferenced blobs and links younger than this survive gc(): a push in progress. Default 1 hour. */
  gcGraceMs?: number;
}

type Route = (
  req: IncomingMessage,
  res: ServerResponse,
  m: RegExpExecArray,
  q: URLSearchParams,
) => Promise<void>;

/** The embedded registry (OCI distribution spec v1.1): a request handler mounted under /v2/. */
export class RegistryServer {
  private readonly blobs: BlobHandlers;
  private readonly uploadHandlers: UploadHandlers;
  private readonly gate: TokenGate | undefined;
  private readonly manifests: ManifestHandlers;
  private readonly staleUploadMs: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly routes: [RegExp, Partial<Record<string, Route>>][];
  private readonly storage: RegistryStorage;
  private readonly lock = new SharedLock();
  private readonly gcGraceMs: number;

  constructor(opts: RegistryServerOptions) {
    const store = new RegistryStorage(opts.root);
    this.storage = store;
    this.blobs = new BlobHandlers(store);
    this.uploadHandlers = new UploadHandlers(
      store,
      { maxUploadBytes: opts.maxUploadBytes ?? 1024 ** 3, maxUploads: opts.maxUploads ?? 1000 },
      this.lock,
    );
    this.gate = opts.token === undefined ? undefined : new TokenGate(opts.token);
    this.manifests = new ManifestHandlers(store, this.lock);
    this.gcGraceMs = opts.gcGraceMs ?? 60 * 60 * 1000;
    this.staleUploadMs = opts.staleUploadMs ?? 60 * 60 * 1000;
    const every = opts.sweepIntervalMs ?? 10 * 60 * 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweepInBackground(), every);
      this.timer.unref();
      // The registry that sweeps owns the directory: what a crash left in tmp/ goes now, stale sessions too.
      this.sweepInBackground(store.stagingDir());
    }
    const b = this.blobs;
    const u = this.uploadHandlers;
    const mf = this.manifests;
    this.routes = [
      [
        /^\/v2\/?$/,
        { GET: async (_req, res) => sendJson(res, 200, {}), HEAD: async (_req, res) => sendEmpty(res, 200) },
      ],
      [/^\/v2\/_catalog$/, { GET: (_req, res, _m, q) => mf.catalog(res, q) }],
      [/^\/v2\/(.+)\/blobs\/uploads\/?$/, { POST: (req, res, m, q) => u.start(req, res, m[1], q) }],
      [
        /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
        {
          PATCH: (req, res, m) => u.patch(req, res, m[1], m[2]),
          PUT: (req, res, m, q) => u.finish(req, res, m[1], m[2], q),
          GET: (_req, res, m) => u.status(res, m[1], m[2]),
          DELETE: (_req, res, m) => u.cancel(res, m[1], m[2]),
        },
      ],
      [
        /^\/v2\/(.+)\/blobs\/([^/]+)$/,
        {
          GET: (req, res, m) => b.get(req, res, m[1], m[2]),
          HEAD: (req, res, m) => b.get(req, res, m[1], m[2]),
          DELETE: (_req, res, m) => b.delete(res, m[1], m[2]),
        },
      ],
      [
        /^\/v2\/(.+)\/manifests\/([^/]+)$/,
        {
          GET: (req, res, m) => mf.get(req, res, m[1], m[2]),
          HEAD: (req, res, m) => mf.get(req, res, m[1], m[2]),
          PUT: (req, res, m, q) => mf.put(req, res, m[1], m[2], q),
          DELETE: (_req, res, m) => mf.delete(res, m[1], m[2]),
        },
      ],
      [/^\/v2\/(.+)\/tags\/list$/, { GET: (_req, res, m, q) => mf.tags(res, m[1], q) }],
      [/^\/v2\/(.+)\/referrers\/([^/]+)$/, { GET: (_req, res, m, q) => mf.referrers(res, m[1], m[2], q) }],
    ];
  }

  /** Handles the request if its path starts with /v2 (returns true), else returns false without touching res. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? "";
    if (!/^\/v2(\/|\?|$)/.test(url)) return false;
    this.track(this.dispatch(req, res, url).catch((e) => sendError(req, res, e)));
    return true;
  }

  /** Sweeps stale uploads once `first` is done, logging a failure; close() waits for it. */
  private sweepInBackground(first: Promise<unknown> = Promise.resolve()): void {
    this.track(
      first
        .then(() => this.sweepUploads())
        .then(
          () => {},
          (e) => console.error("registry: sweeping uploads failed", e),
        ),
    );
  }

  /** Keeps `work` until it ends, so that close() waits for it. */
  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /**
   * Stores an image built in this process (function versions, package builds) without HTTP, as a push of the
   * same content would: blobs content-addressed and fsynced, linked into `repo`, then the manifest, then the
   * tag. Independent writes go in parallel, which matters on disks where every fsync costs milliseconds
   * (a deploy is ~3 fsync rounds instead of ~11 sequential ones). Verifies every digest it writes.
   */
  async pushLocal(repo: string, tag: string, bundle: ImageBundle): Promise<Digest> {
    if (!isRepositoryName(repo))
      throw new WasmletError("INVALID_ARGUMENT", `repository "${repo}" is not a valid name`);
    const store = this.storage;
    const digest = bundle.manifestDigest;
    // Every digest is checked before anything is written: a bad bundle stores nothing, and no write is still
    // running when this rejects.
    for (const [d, bytes] of [...bundle.blobs, [digest, bundle.manifest] as const]) {
      if (sha256Digest(bytes) !== d)
        throw new WasmletError("INTERNAL", `content does not match its digest ${d}`);
    }
    const write = async (d: Digest, bytes: Uint8Array) => {
      if (!(await store.exists(store.blobPath(d)))) await store.writeAtomic(store.blobPath(d), bytes);
    };
    // Under the shared lock, as a push over HTTP: gc never sees a manifest whose blobs it could still delete.
    await this.lock.shared(async () => {
      await settled([...bundle.blobs].map(([d, bytes]) => write(d, bytes)));
      await settled([
        ...[...bundle.blobs.keys()].map((d) => store.writeAtomic(store.layerLink(repo, d), "")),
        write(digest, bundle.manifest),
      ]);
      await store.writeAtomic(store.manifestLink(repo, digest), bundle.mediaType);
      await store.writeAtomic(store.tagPath(repo, tag), digest);
    });
    return digest;
  }

  /**
   * Loads an image from this registry's own storage, by manifest digest, without HTTP: how the server that
   * embeds the registry runs its functions (fast, and independent of the port the registry listens on).
   * Resolves undefined when the manifest is not stored here; verifies every digest it reads.
   */
  async loadLocal(digest: Digest): Promise<LoadedImage | undefined> {
    const store = this.storage;
    if (!(await store.exists(store.blobPath(digest)))) return undefined;
    const read = async (d: Digest): Promise<Uint8Array> => {
      const bytes = await store.readBytes(store.blobPath(d));
      if (!bytes) throw new Error(`blob ${d} is missing from the embedded registry`);
      if (sha256Digest(bytes) !== d) throw new Error(`blob ${d} is corrupt on disk`);
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
    return this.uploadHandlers.sweepUploads(maxAgeMs);
  }

  /**
   * Deletes blobs nothing references (see collectGarbage): not reachable from a tag, a manifest link or
   * `opts.roots`, and older than the grace period. Pushes wait while it runs; it never deletes a blob a push
   * has linked. Also sweeps stale uploads.
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const result = await this.lock.exclusive(() =>
      collectGarbage(this.storage, { graceMs: this.gcGraceMs, ...opts }),
    );
    await this.sweepUploads();
    return result;
  }

  /** Stops the sweep timer and waits for requests in progress to finish. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, rawUrl: string): Promise<void> {
    const q = rawUrl.indexOf("?");
    if (this.gate) {
      // Before anything else: a caller without the token learns nothing, not even which names are valid.
      if ((q >= 0 ? rawUrl.slice(0, q) : rawUrl) === TOKEN_PATH) return this.gate.issue(req, res);
      this.gate.check(req);
    }
    const query = new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : "");
    let path: string;
    try {
      path = decodeURIComponent(q >= 0 ? rawUrl.slice(0, q) : rawUrl);
    } catch {
      throw new OciError(400, "NAME_INVALID", "the request path is not valid percent-encoding");
    }
    for (const [re, methods] of this.routes) {
      const m = re.exec(path);
      if (!m) continue;
      // Every name is checked against the spec's regex before it reaches the disk: no `..`, no absolute paths.
      if (m[1] !== undefined && !m[0].startsWith("/v2/_catalog") && !isRepositoryName(m[1]))
        throw new OciError(400, "NAME_INVALID", `repository name "${m[1]}" is not valid`, { name: m[1] });
      const route = methods[req.method ?? "GET"];
      if (!route) throw new OciError(405, "UNSUPPORTED", `${req.method} is not supported on ${path}`);
      await route(req, res, m, query);
      return;
    }
    throw new OciError(404, "NAME_UNKNOWN", `no registry endpoint at ${path}`);
  }
}

/** Like Promise.all, but rejects only once every write has ended: no write outlives the call that made it. */
async function settled(writes: Promise<unknown>[]): Promise<void> {
  for (const r of await Promise.allSettled(writes)) if (r.status === "rejected") throw r.reason;
}
