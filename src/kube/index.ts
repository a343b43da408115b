export {
  CRUN_WASM_ANNOTATIONS,
  checkRuntimeClass,
  functionManifest,
  functionObject,
  MANIFEST_KINDS,
  type ManifestInput,
  type ManifestKind,
  parseManifestKind,
} from "./manifest.js";
