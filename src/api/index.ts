export type {
  EnvironmentRecord,
  FunctionDraft,
  PackageRecord,
  PackageStatus,
  SpecDeploymentRecord,
} from "../store/index.js";
export { type ApiHandler, type ControlFront, controlListener } from "./control.js";
export type { ApiDeps } from "./deps.js";
export type { ClusterPeers } from "./gather.js";
export type { Unreachable } from "./gather-merge.js";
export { createApiHandler, createRecordsHandler } from "./handler.js";
export { MAX_API_BODY_BYTES } from "./http-util.js";
export type { MqTriggerView } from "./mq-triggers.js";
export type {
  CreateEnvironmentInput,
  CreatePackageInput,
  UpdateEnvironmentInput,
  UpdatePackageInput,
} from "./package-schemas.js";
export { registryRoots } from "./registry-ops.js";
export type {
  CreateCanaryInput,
  CreateFunctionInput,
  CreateHttpTriggerInput,
  UpdateFunctionInput,
  UpdateHttpTriggerInput,
} from "./schemas.js";
export type { TimeTriggerView } from "./time-triggers.js";
export type {
  CreateMqTriggerInput,
  CreateTimeTriggerInput,
  UpdateMqTriggerInput,
  UpdateTimeTriggerInput,
} from "./trigger-schemas.js";
export type { CreateValuesInput, UpdateValuesInput } from "./value-schemas.js";
export type { ConfigView, SecretView } from "./values.js";
