export type {
  EnvironmentRecord,
  FunctionDraft,
  PackageRecord,
  PackageStatus,
  SpecDeploymentRecord,
} from "../store/index.js";
export {
  MAX_SOURCE_ARCHIVE_BYTES,
  packArchive,
  packSource,
  readSourceTree,
  unpackArchive,
} from "./archive.js";
export { builderForSource } from "./builds.js";
export { ApiClient, type ApiClientOptions, type InvokeOptions, type InvokeResult } from "./client.js";
export type { ApiDeps } from "./deps.js";
export { createApiHandler } from "./handler.js";
export { API_ERROR_HEADER, MAX_API_BODY_BYTES } from "./http-util.js";
export type {
  CreateEnvironmentInput,
  CreatePackageInput,
  UpdateEnvironmentInput,
  UpdatePackageInput,
} from "./package-schemas.js";
export { registryRoots } from "./registry-ops.js";
export type { CreateFunctionInput, CreateHttpTriggerInput, UpdateFunctionInput } from "./schemas.js";
