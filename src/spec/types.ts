import { z } from "zod";
import { CONTRACT_NAMES, HTTP_METHODS, NAME_RE } from "../core/index.js";

export const API_VERSION = "wasmlet.dev/v1";
/** Kinds in dependency order: apply creates them in this order and deletes in the reverse. */
export const SPEC_KINDS = [
  "Environment",
  "Package",
  "Config",
  "Function",
  "HTTPTrigger",
  "TimeTrigger",
  "MessageQueueTrigger",
] as const;
export type SpecKind = (typeof SPEC_KINDS)[number];
/** The document `spec init` writes: names the deployment whose resources `apply --delete` may remove. */
export const DEPLOYMENT_KIND = "DeploymentConfig";
export const DEPLOYMENT_FILE = "wasmlet-deployment.yaml";

const name = z
  .string({ error: "must be a name" })
  .regex(NAME_RE, { error: "must be a valid name (1-63 characters from [a-z0-9-])" });
const str = z.string({ error: "must be a string" });

const environmentSpec = z.strictObject({ builder: str.min(1), buildCommand: str.optional() });
const packageSpec = z.strictObject({
  /** File or directory, relative to the project root (the folder holding specs/). */
  source: str.min(1, { error: "must name a file or directory" }),
  builder: str.optional(),
  environment: name.optional(),
  buildCommand: str.optional(),
});
/** A config's values (not secret: specs may hold them). Secrets have no kind here: a spec only names them. */
const configSpec = z.strictObject({ data: z.record(str, str, { error: "must be an object of key: value" }) });
/** `VAR: name/key`: a variable whose value is a key of a secret or config. */
const refMap = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be a variable name" }),
  str.regex(/^[a-z0-9-]+\/[^/]+$/, { error: "must be NAME/KEY" }),
  { error: "must be an object of VARIABLE: NAME/KEY" },
);
const functionSpec = z.strictObject({
  package: name.optional(),
  image: str.optional(),
  /** A .wasm module, relative to the project root (`fn create --spec --code` copies it into specs/). */
  code: str.min(1, { error: "must name a .wasm file" }).optional(),
  /** `command` only: the file (absolute guest path) HTTP callers get as the body instead of stdout. */
  outputFile: str.optional(),
  contract: z.enum(CONTRACT_NAMES, { error: `must be one of ${CONTRACT_NAMES.join(", ")}` }).optional(),
  args: z.array(str).optional(),
  env: z.record(str, str).optional(),
  /** Where a component may send outbound HTTP (checked by the server). */
  allowOutbound: z.array(str).optional(),
  /** Secrets by name (created with `wasmlet secret create`, never in a spec): files /secrets/<name>/<key>. */
  secrets: z.array(name).optional(),
  /** Configs by name: files /configs/<name>/<key>. */
  configs: z.array(name).optional(),
  /** Variables from secrets' keys: `DB_PASSWORD: db/password`. */
  envFromSecret: refMap.optional(),
  /** Variables from configs' keys: `GREETING: app/greeting`. */
  envFromConfig: refMap.optional(),
  limits: z
    .strictObject({
      timeoutMs: z.int().positive().optional(),
      memoryMiB: z.int().positive().optional(),
      maxBodyBytes: z.int().positive().optional(),
      concurrency: z.int().positive().optional(),
      queue: z.int().min(0).optional(),
      maxOutputBytes: z.int().positive().optional(),
    })
    .optional(),
});
const httpTriggerSpec = z.strictObject({
  function: name,
  /** Functions by weight (a canary): `function` must be one of them. */
  weights: z.record(name, z.int().min(0)).optional(),
  methods: z.array(z.enum(HTTP_METHODS, { error: `must be one of ${HTTP_METHODS.join(", ")}` })).optional(),
  url: str.optional(),
  prefix: str.optional(),
  async: z.boolean({ error: "must be true or false" }).optional(),
});
/** The server checks the cron expression and subjects on apply (one parser: the one that fires). */
const timeTriggerSpec = z.strictObject({
  function: name,
  cron: str.min(1, { error: "must be a schedule" }),
  method: z.enum(HTTP_METHODS, { error: `must be one of ${HTTP_METHODS.join(", ")}` }).optional(),
  subpath: str.optional(),
  body: str.optional(),
});
const mqTriggerSpec = z.strictObject({
  function: name,
  mqtype: str.optional(),
  topic: str.min(1, { error: "must be a subject" }),
  respTopic: str.optional(),
  errorTopic: str.optional(),
  maxRetries: z.int({ error: "must be a whole number" }).min(0).optional(),
  contentType: str.optional(),
});

export const SPEC_SCHEMAS = {
  Environment: environmentSpec,
  Package: packageSpec,
  Config: configSpec,
  Function: functionSpec,
  HTTPTrigger: httpTriggerSpec,
  TimeTrigger: timeTriggerSpec,
  MessageQueueTrigger: mqTriggerSpec,
} satisfies Record<SpecKind, z.ZodType>;

export type EnvironmentSpec = z.infer<typeof environmentSpec>;
export type PackageSpec = z.infer<typeof packageSpec>;
export type ConfigSpec = z.infer<typeof configSpec>;
export type FunctionSpec = z.infer<typeof functionSpec>;
export type HttpTriggerSpec = z.infer<typeof httpTriggerSpec>;
export type TimeTriggerSpec = z.infer<typeof timeTriggerSpec>;
export type MqTriggerSpec = z.infer<typeof mqTriggerSpec>;
export interface SpecByKind {
  Environment: EnvironmentSpec;
  Package: PackageSpec;
  Config: ConfigSpec;
  Function: FunctionSpec;
  HTTPTrigger: HttpTriggerSpec;
  TimeTrigger: TimeTriggerSpec;
  MessageQueueTrigger: MqTriggerSpec;
}

/** One resource document as written in specs/. */
export interface SpecDocument<K extends SpecKind = SpecKind> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: { name: string };
  spec: SpecByKind[K];
}

/** A validated document and where it came from. */
export type LoadedSpec = { [K in SpecKind]: SpecDocument<K> & { file: string } }[SpecKind];

export const docSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
  kind: str,
  metadata: z.strictObject({ name }, { error: "must be an object with a name" }),
  spec: z.unknown().optional(),
});

/** `Kind/name`: the key a deployment record keeps per resource. */
export const keyOf = (kind: SpecKind, name: string): string => `${kind}/${name}`;
