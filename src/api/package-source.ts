import { type Digest, sha256Digest, WasmletError } from "../core/index.js";
import { isLoopbackRegistry, MEDIA_TYPES } from "../registry/index.js";
import type { ApiDeps } from "./deps.js";

/** artifactType of the OCI artifact that holds a package's source archive. */
export const PACKAGE_SOURCE_ARTIFACT = "application/vnd.wasmlet.package.source.v1";

const EMPTY_CONFIG = new TextEncoder().encode("{}");

/** The repository of a package's artifacts: its sources (`src-<n>`) and built images (`build-<n>`). */
export function packageRepository(deps: ApiDeps, name: string): string {
  return `${deps.registryHost}/packages/${name}`;
}

/**
 * Stores a source archive as an OCI artifact `packages/<name>:src-<generation>` (an empty config and one
 * tar+gzip layer titled with the file name), so the registry keeps it, any OCI tool can fetch it and the tag
 * keeps garbage collection away from it. Resolves the layer's digest and the artifact's reference.
 */
export async function pushSource(
  deps: ApiDeps,
  name: string,
  generation: number,
  archive: Uint8Array,
  fileName: string,
): Promise<{ digest: Digest; image: string }> {
  const digest = sha256Digest(archive);
  const configDigest = sha256Digest(EMPTY_CONFIG);
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      artifactType: PACKAGE_SOURCE_ARTIFACT,
      config: { mediaType: MEDIA_TYPES.empty, digest: configDigest, size: EMPTY_CONFIG.length },
      layers: [
        {
          mediaType: MEDIA_TYPES.layerTarGzip,
          digest,
          size: archive.length,
          annotations: { "org.opencontainers.image.title": fileName },
        },
      ],
    }),
  );
  const image = `${packageRepository(deps, name)}:src-${generation}`;
  await deps.registry.push(image, {
    manifest,
    manifestDigest: sha256Digest(manifest),
    mediaType: MEDIA_TYPES.manifest,
    blobs: new Map([
      [configDigest, EMPTY_CONFIG],
      [digest, archive],
    ]),
  });
  return { digest, image };
}

/** Reads a source archive back from the registry by digest, checking the digest. */
export async function fetchSource(deps: ApiDeps, name: string, digest: Digest): Promise<Uint8Array> {
  const host = deps.registryHost;
  const scheme = isLoopbackRegistry(host) ? "http" : "https";
  const url = `${scheme}://${host}/v2/packages/${name}/blobs/${digest}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: deps.token ? { authorization: `Bearer ${deps.token}` } : {} });
  } catch (e) {
    throw new WasmletError(
      "UNAVAILABLE",
      `source of package "${name}": cannot reach the registry at ${host}`,
      {
        cause: e,
      },
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new WasmletError(
      res.status === 404 ? "NOT_FOUND" : "UNAVAILABLE",
      `source of package "${name}": the registry answered HTTP ${res.status} for ${digest}`,
    );
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (sha256Digest(bytes) !== digest)
    throw new WasmletError(
      "INTERNAL",
      `source of package "${name}": the registry returned other bytes than ${digest}`,
    );
  return bytes;
}
