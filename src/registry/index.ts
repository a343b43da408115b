export {
  type ImageDescription,
  isLoopbackRegistry,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryFailure,
  registryFailureOf,
} from "./client.js";
export type { RegistryAuth } from "./client-auth.js";
export { parseRegistryLocation, type RegistryLocation } from "./external.js";
export type { GcOptions, GcResult } from "./gc.js";
export {
  type BuildImageOptions,
  buildImage,
  discardStaged,
  type ImageBundle,
  isWasmModule,
  LARGE_LAYER_MIN_BYTES,
} from "./image-build.js";
export { ImageRegistries } from "./image-registries.js";
export { ImageStore, type ImageStoreOptions } from "./image-store.js";
export { type Arrival, type LayerHasher, setLayerHasher } from "./large-layer.js";
export {
  type Descriptor,
  MEDIA_TYPES,
  WASM_VARIANT_ANNOTATION,
  WASM_VARIANT_COMPAT_SMART,
} from "./media-types.js";
export { formatReference, type ImageReference, parseReference } from "./reference.js";
export { RegistryServer, type RegistryServerOptions } from "./server.js";
