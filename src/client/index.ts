// The typed client of the control API and what a client needs beside it (source archives). A CLI command loads
// this folder and nothing of the server: types from api/ and store/ are imported as types only.
export type {
  ConfigView,
  CreateCanaryInput,
  CreateEnvironmentInput,
  CreateFunctionInput,
  CreateHttpTriggerInput,
  CreateMqTriggerInput,
  CreatePackageInput,
  CreateTimeTriggerInput,
  CreateValuesInput,
  MqTriggerView,
  SecretView,
  TimeTriggerView,
  UpdateEnvironmentInput,
  UpdateFunctionInput,
  UpdateHttpTriggerInput,
  UpdateMqTriggerInput,
  UpdatePackageInput,
  UpdateTimeTriggerInput,
  UpdateValuesInput,
} from "../api/index.js";
export type {
  CanaryEvent,
  CanaryRecord,
  EnvironmentRecord,
  FunctionDraft,
  PackageRecord,
  PackageStatus,
  SpecDeploymentRecord,
} from "../store/index.js";
export {
  archiveTooLarge,
  MAX_SOURCE_ARCHIVE_BYTES,
  packArchive,
  packSource,
  readSourceTree,
  unpackArchive,
} from "./archive.js";
export {
  ApiClient,
  type ApiClientOptions,
  type Gathered,
  type InvokeOptions,
  type InvokeResult,
  type LogPage,
  type RunOutput,
  type ScheduleView,
} from "./client.js";
