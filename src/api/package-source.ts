import { type Digest, sha256Digest, WasmletError } from "../core/index.js";
import { MEDIA_TYPES, registryFailureOf } from "../registry/index.js";
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

/** Reads a source archive back from the registry (embedded or external) by digest, checking the digest. */
export async function fetchSource(deps: ApiDeps, name: string, digest: Digest): Promise<Uint8Array> {
  try {
    return await deps.registry.blob(packageRepository(deps, name), digest);
  } catch (e) {
    const unknown = registryFailureOf(e).status === 404;
    throw new WasmletError(
      unknown ? "NOT_FOUND" : "UNAVAILABLE",
      `source of package "${name}": ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
}
