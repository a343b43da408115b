import type { IncomingMessage, ServerResponse } from "node:http";
import { Dispatcher } from "../http/index.js";
import type { ImageStore } from "./image-store.js";
import { OciError } from "./oci-error.js";
import { isRepositoryName } from "./reference.js";
import { TOKEN_PATH, TokenGate } from "./server-auth.js";
import { RegistryHandlers } from "./server-handlers.js";
import { sendEmpty, sendError, sendJson } from "./server-http.js";

export interface RegistryServerOptions {
  /** Where the content lives; the server neither opens nor closes it. */
  store: ImageStore;
  /**
   * The control token: every /v2 request must present it, as `Bearer <token>` or as the password of Basic
   * credentials, and /v2/token trades it for a bearer token (the Docker token flow). Default: no check.
   */
  token?: string;
  /** Largest referrers answer in bytes before it is paged (a Link to the rest). Default 4 MiB, a manifest's limit. */
  referrersPageBytes?: number;
  /** Told of every answered request: its operation (see operationOf) and status (the metrics). */
  onOperation?: (operation: string, status: number) => void;
}

const METHODS = new Set(["get", "head", "put", "post", "patch", "delete"]);

/** A bounded name for a /v2 request: what it is about (blob, upload, manifest, ...) and its method. */
export function operationOf(method: string | undefined, url: string): string {
  const path = url.split("?")[0];
  const kind = path.startsWith("/v2/token")
    ? "token"
    : /\/blobs\/uploads(\/|$)/.test(path)
      ? "upload"
      : path.includes("/blobs/")
        ? "blob"
        : path.includes("/manifests/")
          ? "manifest"
          : path.endsWith("/tags/list")
            ? "tags"
            : path.includes("/referrers/")
              ? "referrers"
              : path.startsWith("/v2/_catalog")
                ? "catalog"
                : "base";
  const m = (method ?? "GET").toLowerCase();
  return `${kind}_${METHODS.has(m) ? m : "other"}`;
}

/** A /v2 handler: `m` holds the path's captures (repository name first), `q` the query. */
type Route = (req: IncomingMessage, res: ServerResponse, m: string[], q: URLSearchParams) => Promise<void>;

/** The embedded registry's HTTP front (OCI distribution spec v1.1): a request handler mounted under /v2/. */
export class RegistryServer {
  private readonly gate: TokenGate | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly routes = new Dispatcher<Route>();
  private readonly onOperation: RegistryServerOptions["onOperation"];

  constructor(opts: RegistryServerOptions) {
    this.gate = opts.token === undefined ? undefined : new TokenGate(opts.token);
    this.onOperation = opts.onOperation;
    const h = new RegistryHandlers(opts.store, opts.referrersPageBytes);
    this.routes
      .add(/^\/v2\/?$/, {
        GET: async (_req, res) => sendJson(res, 200, {}),
        HEAD: async (_req, res) => sendEmpty(res, 200),
      })
      .add(/^\/v2\/_catalog$/, { GET: (_req, res, _m, q) => h.catalog(res, q) })
      .add(/^\/v2\/(.+)\/blobs\/uploads\/?$/, { POST: (req, res, m, q) => h.startUpload(req, res, m[0], q) })
      .add(/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, {
        PATCH: (req, res, m) => h.patchUpload(req, res, m[0], m[1]),
        PUT: (req, res, m, q) => h.finishUpload(req, res, m[0], m[1], q),
        GET: (_req, res, m) => h.uploadStatus(res, m[0], m[1]),
        DELETE: (_req, res, m) => h.cancelUpload(res, m[0], m[1]),
      })
      .add(/^\/v2\/(.+)\/blobs\/([^/]+)$/, {
        GET: (req, res, m) => h.getBlob(req, res, m[0], m[1]),
        HEAD: (req, res, m) => h.getBlob(req, res, m[0], m[1]),
        DELETE: (_req, res, m) => h.deleteBlob(res, m[0], m[1]),
      })
      .add(/^\/v2\/(.+)\/manifests\/([^/]+)$/, {
        GET: (req, res, m) => h.getManifest(req, res, m[0], m[1]),
        HEAD: (req, res, m) => h.getManifest(req, res, m[0], m[1]),
        PUT: (req, res, m, q) => h.putManifest(req, res, m[0], m[1], q),
        DELETE: (_req, res, m) => h.deleteManifest(res, m[0], m[1]),
      })
      .add(/^\/v2\/(.+)\/tags\/list$/, { GET: (_req, res, m, q) => h.tags(res, m[0], q) })
      .add(/^\/v2\/(.+)\/referrers\/([^/]+)$/, { GET: (_req, res, m, q) => h.referrers(res, m[0], m[1], q) });
  }

  /** Handles the request if its path starts with /v2 (returns true), else returns false without touching res. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? "";
    if (!/^\/v2(\/|\?|$)/.test(url)) return false;
    const onOperation = this.onOperation;
    if (onOperation) res.once("finish", () => onOperation(operationOf(req.method, url), res.statusCode));
    const work = this.dispatch(req, res, url).catch((e) => sendError(req, res, e));
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
    return true;
  }

  /** Waits for requests in progress to finish (the store stays open: its owner closes it). */
  async close(): Promise<void> {
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
    const found = this.routes.match(req.method ?? "GET", path);
    if (found === undefined) throw new OciError(404, "NAME_UNKNOWN", `no registry endpoint at ${path}`);
    const m = "params" in found ? found.params : [];
    // Every name is checked against the spec's regex before it reaches the disk: no `..`, no absolute paths.
    if (m[0] !== undefined && !isRepositoryName(m[0]))
      throw new OciError(400, "NAME_INVALID", `repository name "${m[0]}" is not valid`, { name: m[0] });
    if ("allow" in found)
      throw new OciError(405, "UNSUPPORTED", `${req.method} is not supported on ${path}`, undefined, {
        allow: found.allow.join(", "),
      });
    await found.handler(req, res, m as string[], query);
  }
}
