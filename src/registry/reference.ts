import { type Digest, isDigest, WasmletError } from "../core/index.js";

/** Repository names and tags, as the OCI distribution spec defines them (a name can never contain `..`). */
export const REPOSITORY_RE = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Docker caps whole names at 255 characters; so do we. */
const MAX_NAME_LENGTH = 255;

const DOCKER_HUB = "docker.io";

export interface ImageReference {
  /** Host, with a port if any (`127.0.0.1:8081`, `[::1]:5000`, `ghcr.io`). */
  registry: string;
  /** Repository path inside the registry (`functions/hello`). */
  repository: string;
  /** Tag, e.g. `v1`; absent means `latest` when neither tag nor digest is given. */
  tag?: string;
  /** When set, it wins over the tag for every fetch. */
  digest?: Digest;
}

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && REPOSITORY_RE.test(name);
}

/**
 * Parses `host[:port]/repo[:tag][@sha256:…]`. A first component without `.`, `:` or `localhost` is not a
 * host: as docker does, such references name Docker Hub (`hello` → `docker.io/library/hello`).
 */
export function parseReference(ref: string): ImageReference {
  const bad = (why: string) => new WasmletError("INVALID_ARGUMENT", `image reference "${ref}": ${why}`);
  if (typeof ref !== "string" || ref.trim() === "") throw bad("is empty");
  let rest = ref.trim();
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(`digest "${d}" is not sha256:<64 lower-case hex digits>`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[")) {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+)(:[0-9]{1,5})?$/.test(registry))
    throw bad(`registry host "${registry}" is not valid`);
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag))
      throw bad(`tag "${tag}" is not valid (use up to 128 characters from [A-Za-z0-9_.-])`);
  }
  let repository = rest;
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (repository === "") throw bad("the repository name is missing");
  if (!isRepositoryName(repository))
    throw bad(
      `repository "${repository}" is not valid (lower-case components [a-z0-9] joined by . _ __ - and /)`,
    );
  const out: ImageReference = { registry, repository };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

export function formatReference(r: ImageReference): string {
  let s = `${r.registry}/${r.repository}`;
  if (r.tag) s += `:${r.tag}`;
  if (r.digest) s += `@${r.digest}`;
  return s;
}

/** What a fetch asks the registry for: the digest if pinned, else the tag, else `latest`. */
export function referenceTarget(r: ImageReference): string {
  return r.digest ?? r.tag ?? "latest";
}
