/** Media types wasmlet writes or understands, from the OCI image spec, Docker schema 2 and the wasm OCI formats. */
export const MEDIA_TYPES = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
  layerTarGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  empty: "application/vnd.oci.empty.v1+json",
  wasmConfig: "application/vnd.wasm.config.v0+json",
  wasmLayer: "application/wasm",
  wasmContentLayer: "application/vnd.wasm.content.layer.v1+wasm",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerTarGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** crun's wasm handler runs an image whose manifest (or config) carries this annotation. */
export const WASM_VARIANT_ANNOTATION = "module.wasm.image/variant";
export const WASM_VARIANT_COMPAT_SMART = "compat-smart";

/** Manifest kinds a registry stores and serves (what `Accept` lists when pulling). */
export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.manifest,
  MEDIA_TYPES.dockerManifest,
]);
export const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.index, MEDIA_TYPES.dockerList]);
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([...IMAGE_MANIFEST_TYPES, ...INDEX_TYPES]);

/** Layers that are the wasm module itself rather than a filesystem tar. */
export const WASM_LAYER_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.wasmLayer,
  MEDIA_TYPES.wasmContentLayer,
]);

/** Filesystem layers pull() can unpack, and whether they are gzip-compressed. */
export const TAR_LAYER_TYPES: ReadonlyMap<string, { gzip: boolean }> = new Map([
  [MEDIA_TYPES.layerTar, { gzip: false }],
  [MEDIA_TYPES.layerTarGzip, { gzip: true }],
  [MEDIA_TYPES.dockerLayerTarGzip, { gzip: true }],
  ["application/vnd.docker.image.rootfs.diff.tar", { gzip: false }],
]);

/** Layers a registry never stores (they point at external URLs), so manifests may reference them freely. */
export function isForeignLayer(mediaType: string): boolean {
  return (
    mediaType.startsWith("application/vnd.oci.image.layer.nondistributable.") ||
    mediaType === "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
  );
}

/** One OCI content descriptor. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the referenced content; readers verify the bytes against it. */
  digest: string;
  /** Exact size in bytes of the referenced content. */
  size: number;
  /** Free-form metadata (copied into referrers lists). */
  annotations?: Record<string, string>;
  /** Kind of artifact, for referrers filtering. */
  artifactType?: string;
  /** In an index: the platform the entry is for (wasmlet picks `wasm`/`wasip1`). */
  platform?: { architecture?: string; os?: string; variant?: string };
  /** Foreign layers: where the content lives instead of the registry. */
  urls?: string[];
}
