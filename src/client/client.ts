import { randomUUID } from "node:crypto";
// Types only (erased when compiled): the API's input shapes are defined once, by its schemas.
import type {
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
  Unreachable,
  UpdateEnvironmentInput,
  UpdateFunctionInput,
  UpdateHttpTriggerInput,
  UpdateMqTriggerInput,
  UpdatePackageInput,
  UpdateTimeTriggerInput,
  UpdateValuesInput,
} from "../api/index.js";
import {
  API_ERROR_HEADER,
  type AsyncInvocation,
  codeForStatus,
  type ErrorCode,
  type FunctionRecord,
  HTTP_STATUS,
  type HttpTriggerRecord,
  type InvocationStatus,
  type LogEntry,
  WasmletError,
} from "../core/index.js";
import type {
  CanaryRecord,
  EnvironmentRecord,
  NodeInfo,
  PackageRecord,
  SpecDeploymentRecord,
} from "../store/index.js";
import { type Exchange, exchange, type Reply } from "./http.js";

export interface ApiClientOptions {
  /** Base URL of the control port, e.g. `http://127.0.0.1:8081`. */
  server: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
}

/**
 * What an answer gathered over a cluster's nodes (etcd) adds: whether some node did not answer, so its records are
 * missing, and which nodes and why. Absent on a single node (SQLite).
 */
export interface Gathered {
  partial?: boolean;
  unreachable?: Unreachable[];
}

/** A page of a function's log. */
export interface LogPage extends Gathered {
  items: LogEntry[];
  /** Invocation records of the function dropped before they were stored (the log writer fell behind), in all. */
  dropped: number;
  /** On a cluster: where the next page starts on every node (pass it as `cursor`; `after` is one node's id). */
  cursor?: string;
}

/** What `runFunction` reports: the program's outcome as a command line shows it. */
export interface RunOutput {
  /** The status /invoke would have answered. */
  status: number;
  /** The program's exit status (1 when it trapped, timed out or never ran). */
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** Files written under the collected directory, by absolute guest path. */
  files: Map<string, Uint8Array>;
  /** Why the run failed (timeout, trap...); absent on success and on a plain non-zero exit. */
  error?: string;
}

/** The next fire times of a schedule, as the server computes them (its clock and time zone). */
export interface ScheduleView {
  cron: string;
  timeZone: string;
  now: string;
  fires: string[];
}

/** One request to run a function through `/invoke`. */
export interface InvokeOptions {
  /** HTTP method the function sees (default GET). */
  method?: string;
  /** Path the function sees, starting with `/` (default `/`). */
  path?: string;
  /** Raw query string, without `?`. */
  query?: string;
  /** Request headers passed to the function (the API token is never among them). */
  headers?: Record<string, string>;
  /** Request body; must fit the function's `limits.maxBodyBytes` or the API answers 413. */
  body?: Uint8Array | string;
}

/** The function's response, as is. */
export interface InvokeResult {
  /** The function's status (a failed run shows as 500/504... with a JSON error body, as on the router). */
  status: number;
  /** The function's headers, lower-cased, hop-by-hop ones removed. */
  headers: [string, string][];
  /** The function's body, byte for byte. */
  body: Uint8Array;
}

const NETWORK_ERRORS = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ECONNRESET",
  "EAI_AGAIN",
  "ETIMEDOUT",
]);

/**
 * Typed client of the control API (the CLI and the e2e tests use it). Every failure is a WasmletError: the
 * server's code and message for API errors, UNAVAILABLE when the server cannot be reached.
 */
export class ApiClient {
  readonly server: string;
  readonly #token: string | undefined;

  constructor(opts: ApiClientOptions) {
    this.server = opts.server.replace(/\/+$/, "");
    this.#token = opts.token;
  }

  health(): Promise<{ status: string }> {
    return this.#json("GET", "/healthz");
  }

  /** The live nodes of a platform on etcd (`serve --store etcd://…`); a server on SQLite answers NOT_FOUND. */
  async listNodes(): Promise<NodeInfo[]> {
    return (await this.#json<{ items: NodeInfo[] }>("GET", "/api/v1/nodes")).items;
  }

  /**
   * Creates a function. With `module`, the module's bytes go as they are (a multipart body) instead of base64 in
   * `input.code`, which must then be absent: for a large module, far less work for the server.
   */
  createFunction(input: CreateFunctionInput, module?: Uint8Array): Promise<FunctionRecord> {
    if (module) return this.#multipart("POST", "/api/v1/functions", input, module);
    return this.#json("POST", "/api/v1/functions", input);
  }

  async listFunctions(): Promise<FunctionRecord[]> {
    return (await this.#json<{ items: FunctionRecord[] }>("GET", "/api/v1/functions")).items;
  }

  getFunction(name: string): Promise<FunctionRecord> {
    return this.#json("GET", `/api/v1/functions/${encodeURIComponent(name)}`);
  }

  /** Changes a function; with `module`, a new version of these bytes (sent as createFunction sends them). */
  updateFunction(name: string, input: UpdateFunctionInput, module?: Uint8Array): Promise<FunctionRecord> {
    const path = `/api/v1/functions/${encodeURIComponent(name)}`;
    if (module) return this.#multipart("PUT", path, input, module);
    return this.#json("PUT", path, input);
  }

  async deleteFunction(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/functions/${encodeURIComponent(name)}`);
  }

  async readLogs(
    name: string,
    opts: { after?: number; cursor?: string; limit?: number; invocation?: string } = {},
  ): Promise<LogEntry[]> {
    return (await this.readLogPage(name, opts)).items;
  }

  /** Log entries as readLogs returns them, and how many invocation records were dropped in all (under load). */
  readLogPage(
    name: string,
    opts: { after?: number; cursor?: string; limit?: number; invocation?: string } = {},
  ): Promise<LogPage> {
    const q = new URLSearchParams();
    if (opts.invocation !== undefined) q.set("invocation", opts.invocation);
    if (opts.after !== undefined) q.set("after", String(opts.after));
    if (opts.cursor !== undefined) q.set("cursor", opts.cursor);
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    const qs = q.size > 0 ? `?${q}` : "";
    return this.#json<LogPage>("GET", `/api/v1/functions/${encodeURIComponent(name)}/logs${qs}`);
  }

  /** Runs the function once; a non-2xx answer of the function is a result, not an error. */
  async invoke(name: string, opts: InvokeOptions = {}): Promise<InvokeResult> {
    const path = opts.path ? (opts.path.startsWith("/") ? opts.path : `/${opts.path}`) : "";
    const qs = opts.query ? `?${opts.query}` : "";
    const res = await this.#fetch(`/api/v1/functions/${encodeURIComponent(name)}/invoke${path}${qs}`, {
      method: opts.method ?? "GET",
      headers: { ...opts.headers, ...this.#auth() },
      body: typeof opts.body === "string" || opts.body === undefined ? opts.body : new Uint8Array(opts.body),
    });
    // Errors of the API itself (unknown function, bad token, body too large) are marked; the function's answers are not.
    if (res.header(API_ERROR_HEADER) !== undefined) throw apiError(res, this.server);
    return { status: res.status, headers: [...res.headers], body: res.body };
  }

  /**
   * Runs the function once through `/run` (`fn test`): what the program did — exit code, stdout, stderr — and,
   * with `collect` (a preopened directory's name), the files it wrote there by absolute guest path.
   */
  async runFunction(name: string, opts: InvokeOptions & { collect?: string } = {}): Promise<RunOutput> {
    const path = opts.path ? (opts.path.startsWith("/") ? opts.path : `/${opts.path}`) : "";
    const qs = opts.query ? `?${opts.query}` : "";
    const headers: Record<string, string> = { ...opts.headers, ...this.#auth() };
    if (opts.collect !== undefined) headers["x-wasmlet-collect"] = opts.collect;
    const res = await this.#fetch(`/api/v1/functions/${encodeURIComponent(name)}/run${path}${qs}`, {
      method: opts.method ?? "GET",
      headers,
      body: typeof opts.body === "string" || opts.body === undefined ? opts.body : new Uint8Array(opts.body),
    });
    if (!res.ok) throw apiError(res, this.server);
    const raw = res.json() as {
      status: number;
      exitCode: number;
      stdout: string;
      stderr: string;
      files: Record<string, string>;
      error?: string;
    };
    const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));
    return {
      status: raw.status,
      exitCode: raw.exitCode,
      stdout: bytes(raw.stdout),
      stderr: bytes(raw.stderr),
      files: new Map(Object.entries(raw.files ?? {}).map(([p, b]) => [p, bytes(b)])),
      error: raw.error,
    };
  }

  /** YAML of a Kubernetes object that runs the function's current image through crun's wasm handler. */
  async functionManifest(name: string, opts: { kind?: string; runtimeClass?: string } = {}): Promise<string> {
    const q = new URLSearchParams();
    if (opts.kind !== undefined) q.set("kind", opts.kind);
    if (opts.runtimeClass !== undefined) q.set("runtimeClass", opts.runtimeClass);
    const qs = q.size > 0 ? `?${q}` : "";
    const res = await this.#request("GET", `/api/v1/functions/${encodeURIComponent(name)}/manifest${qs}`);
    return res.text();
  }

  /** Runs one garbage collection pass of the server's embedded registry. */
  registryGc(): Promise<{ deletedBlobs: number; freedBytes: number }> {
    return this.#json("POST", "/api/v1/registry/gc");
  }

  createHttpTrigger(input: CreateHttpTriggerInput): Promise<HttpTriggerRecord> {
    return this.#json("POST", "/api/v1/triggers/http", input);
  }

  async listHttpTriggers(): Promise<HttpTriggerRecord[]> {
    return (await this.#json<{ items: HttpTriggerRecord[] }>("GET", "/api/v1/triggers/http")).items;
  }

  getHttpTrigger(name: string): Promise<HttpTriggerRecord> {
    return this.#json("GET", `/api/v1/triggers/http/${encodeURIComponent(name)}`);
  }

  /** Starts a canary release of `input.new` on `input.route` (its first step at once). */
  createCanary(input: CreateCanaryInput): Promise<CanaryRecord> {
    return this.#json("POST", "/api/v1/canaries", input);
  }

  async listCanaries(): Promise<CanaryRecord[]> {
    return (await this.#json<{ items: CanaryRecord[] }>("GET", "/api/v1/canaries")).items;
  }

  getCanary(name: string): Promise<CanaryRecord> {
    return this.#json("GET", `/api/v1/canaries/${encodeURIComponent(name)}`);
  }

  /** Stops a canary; its route keeps the weights it has. */
  async deleteCanary(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/canaries/${encodeURIComponent(name)}`);
  }

  /** Moves a route's traffic: a new function, or weights across several (`weights: null` removes them). */
  updateHttpTrigger(name: string, input: UpdateHttpTriggerInput): Promise<HttpTriggerRecord> {
    return this.#json("PUT", `/api/v1/triggers/http/${encodeURIComponent(name)}`, input);
  }

  async deleteHttpTrigger(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/triggers/http/${encodeURIComponent(name)}`);
  }

  createTimeTrigger(input: CreateTimeTriggerInput): Promise<TimeTriggerView> {
    return this.#json("POST", "/api/v1/triggers/time", input);
  }

  updateTimeTrigger(name: string, input: UpdateTimeTriggerInput): Promise<TimeTriggerView> {
    return this.#json("PUT", `/api/v1/triggers/time/${encodeURIComponent(name)}`, input);
  }

  async listTimeTriggers(): Promise<TimeTriggerView[]> {
    return (await this.#json<{ items: TimeTriggerView[] }>("GET", "/api/v1/triggers/time")).items;
  }

  getTimeTrigger(name: string): Promise<TimeTriggerView> {
    return this.#json("GET", `/api/v1/triggers/time/${encodeURIComponent(name)}`);
  }

  async deleteTimeTrigger(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/triggers/time/${encodeURIComponent(name)}`);
  }

  createMqTrigger(input: CreateMqTriggerInput): Promise<MqTriggerView> {
    return this.#json("POST", "/api/v1/triggers/mq", input);
  }

  /** `respTopic` or `errorTopic` "" removes it. */
  updateMqTrigger(name: string, input: UpdateMqTriggerInput): Promise<MqTriggerView> {
    return this.#json("PUT", `/api/v1/triggers/mq/${encodeURIComponent(name)}`, input);
  }

  async listMqTriggers(): Promise<MqTriggerView[]> {
    return (await this.#json<{ items: MqTriggerView[] }>("GET", "/api/v1/triggers/mq")).items;
  }

  getMqTrigger(name: string): Promise<MqTriggerView> {
    return this.#json("GET", `/api/v1/triggers/mq/${encodeURIComponent(name)}`);
  }

  async deleteMqTrigger(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/triggers/mq/${encodeURIComponent(name)}`);
  }

  /**
   * Asynchronous invocations, newest first, and how many there are per status (of the function, when given); on a
   * cluster, of every node that answered (each item names its node).
   */
  listInvocations(
    q: { function?: string; status?: InvocationStatus; limit?: number } = {},
  ): Promise<{ items: AsyncInvocation[]; counts: Record<InvocationStatus, number> } & Gathered> {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
    return this.#json("GET", `/api/v1/invocations${p.size > 0 ? `?${p}` : ""}`);
  }

  getInvocation(id: string): Promise<AsyncInvocation> {
    return this.#json("GET", `/api/v1/invocations/${encodeURIComponent(id)}`);
  }

  /** Dead invocations of a function (or one, by id) run again, on every node; resolves with how many. */
  redriveInvocations(q: { function?: string; id?: string }): Promise<{ redriven: number } & Gathered> {
    return this.#json("POST", "/api/v1/invocations/redrive", q);
  }

  /** Deletes finished invocations (succeeded, dead) matching `q`, on every node; resolves with how many. */
  purgeInvocations(q: {
    function?: string;
    id?: string;
    status?: InvocationStatus;
  }): Promise<{ purged: number } & Gathered> {
    return this.#json("POST", "/api/v1/invocations/purge", q);
  }

  /** The next `round` fire times of `cron` (1 to 100); a bad expression is INVALID_ARGUMENT naming the problem. */
  schedule(cron: string, round = 1): Promise<ScheduleView> {
    const q = new URLSearchParams({ cron, round: String(round) });
    return this.#json("GET", `/api/v1/schedule?${q}`);
  }

  /** Uploads a source archive and queues its build; resolves with the pending package (202). */
  createPackage(input: CreatePackageInput): Promise<PackageRecord> {
    return this.#json("POST", "/api/v1/packages", input);
  }

  /** New source and/or builder settings; always queues a new build. */
  updatePackage(name: string, input: UpdatePackageInput): Promise<PackageRecord> {
    return this.#json("PUT", `/api/v1/packages/${encodeURIComponent(name)}`, input);
  }

  getPackage(name: string): Promise<PackageRecord> {
    return this.#json("GET", `/api/v1/packages/${encodeURIComponent(name)}`);
  }

  async listPackages(): Promise<PackageRecord[]> {
    return (await this.#json<{ items: PackageRecord[] }>("GET", "/api/v1/packages")).items;
  }

  rebuildPackage(name: string): Promise<PackageRecord> {
    return this.#json("POST", `/api/v1/packages/${encodeURIComponent(name)}/rebuild`);
  }

  /** Refused (CONFLICT) while functions use the package, unless `force` (they keep their versions). */
  async deletePackage(name: string, force = false): Promise<void> {
    await this.#request(
      "DELETE",
      `/api/v1/packages/${encodeURIComponent(name)}${force ? "?force=true" : ""}`,
    );
  }

  /** The package's source archive (tar+gzip) and the file or directory name it was made from. */
  async getPackageSource(name: string): Promise<{ archive: Uint8Array; fileName: string }> {
    const res = await this.#request("GET", `/api/v1/packages/${encodeURIComponent(name)}/source`);
    const fileName = decodeURIComponent(res.header("x-wasmlet-source-name") ?? `${name}.tar.gz`);
    return { archive: res.body, fileName };
  }

  /**
   * Binds function `draft.name` to the package: created or given the package's image now when it has a
   * successful build (`function` set), else created when the build succeeds (`pending`).
   */
  async bindFunction(
    pkg: string,
    draft: NonNullable<CreatePackageInput["function"]>,
  ): Promise<{ function?: FunctionRecord; pending?: PackageRecord }> {
    const res = await this.#request("POST", `/api/v1/packages/${encodeURIComponent(pkg)}/functions`, draft);
    const body = res.json() as FunctionRecord | { pending: true; package: PackageRecord };
    return "pending" in body ? { pending: body.package } : { function: body };
  }

  /** Stores a secret (sealed by the server); the answer shows its keys, never its values. */
  createSecret(input: CreateValuesInput): Promise<SecretView> {
    return this.#json("POST", "/api/v1/secrets", input);
  }

  /** Adds, replaces or removes keys of a secret; functions see the new values from their next invocation. */
  updateSecret(name: string, input: UpdateValuesInput): Promise<SecretView> {
    return this.#json("PUT", `/api/v1/secrets/${encodeURIComponent(name)}`, input);
  }

  /** A secret's keys and the functions that use it (never its values). */
  getSecret(name: string): Promise<SecretView> {
    return this.#json("GET", `/api/v1/secrets/${encodeURIComponent(name)}`);
  }

  async listSecrets(): Promise<SecretView[]> {
    return (await this.#json<{ items: SecretView[] }>("GET", "/api/v1/secrets")).items;
  }

  /** Refused (CONFLICT) while a function uses the secret. */
  async deleteSecret(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/secrets/${encodeURIComponent(name)}`);
  }

  createConfig(input: CreateValuesInput): Promise<ConfigView> {
    return this.#json("POST", "/api/v1/configs", input);
  }

  /** Adds, replaces or removes keys of a config; functions see the new values from their next invocation. */
  updateConfig(name: string, input: UpdateValuesInput): Promise<ConfigView> {
    return this.#json("PUT", `/api/v1/configs/${encodeURIComponent(name)}`, input);
  }

  /** A config with its values and the functions that use it. */
  getConfig(name: string): Promise<ConfigView> {
    return this.#json("GET", `/api/v1/configs/${encodeURIComponent(name)}`);
  }

  async listConfigs(): Promise<ConfigView[]> {
    return (await this.#json<{ items: ConfigView[] }>("GET", "/api/v1/configs")).items;
  }

  /** Refused (CONFLICT) while a function uses the config. */
  async deleteConfig(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/configs/${encodeURIComponent(name)}`);
  }

  createEnvironment(input: CreateEnvironmentInput): Promise<EnvironmentRecord> {
    return this.#json("POST", "/api/v1/environments", input);
  }

  updateEnvironment(name: string, input: UpdateEnvironmentInput): Promise<EnvironmentRecord> {
    return this.#json("PUT", `/api/v1/environments/${encodeURIComponent(name)}`, input);
  }

  getEnvironment(name: string): Promise<EnvironmentRecord> {
    return this.#json("GET", `/api/v1/environments/${encodeURIComponent(name)}`);
  }

  async listEnvironments(): Promise<EnvironmentRecord[]> {
    return (await this.#json<{ items: EnvironmentRecord[] }>("GET", "/api/v1/environments")).items;
  }

  async deleteEnvironment(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/environments/${encodeURIComponent(name)}`);
  }

  /** Makes version `to` (default: the one before the current) current at once. */
  rollbackFunction(name: string, to?: number): Promise<FunctionRecord> {
    return this.#json(
      "POST",
      `/api/v1/functions/${encodeURIComponent(name)}/rollback`,
      to === undefined ? {} : { to },
    );
  }

  /** What `spec apply` last applied for a deployment; undefined before the first apply. */
  async getSpecDeployment(name: string): Promise<SpecDeploymentRecord | undefined> {
    try {
      return await this.#json<SpecDeploymentRecord>(
        "GET",
        `/api/v1/specdeployments/${encodeURIComponent(name)}`,
      );
    } catch (e) {
      if (e instanceof WasmletError && e.code === "NOT_FOUND") return undefined;
      throw e;
    }
  }

  putSpecDeployment(name: string, resources: Record<string, string>): Promise<SpecDeploymentRecord> {
    return this.#json("PUT", `/api/v1/specdeployments/${encodeURIComponent(name)}`, { resources });
  }

  async deleteSpecDeployment(name: string): Promise<void> {
    await this.#request("DELETE", `/api/v1/specdeployments/${encodeURIComponent(name)}`);
  }

  #auth(): Record<string, string> {
    return this.#token ? { authorization: `Bearer ${this.#token}` } : {};
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#request(method, path, body);
    return res.json() as T;
  }

  /** A function's fields and its module's bytes as one multipart/form-data body (parts "function" and "code"). */
  async #multipart<T>(method: string, path: string, fields: object, module: Uint8Array): Promise<T> {
    const boundary = `wasmlet-${randomUUID()}`;
    const head = (name: string, type: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\nContent-Type: ${type}\r\n\r\n`;
    // In pieces: a 30 MB module is written as it is, not copied into one body first.
    const body = [
      Buffer.from(`${head("function", "application/json")}${JSON.stringify(fields)}\r\n`),
      Buffer.from(head("code", "application/wasm")),
      module,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ];
    const res = await this.#fetch(path, {
      method,
      headers: {
        accept: "application/json",
        ...this.#auth(),
        "content-type": `multipart/form-data; boundary=${boundary}`,
      },
      body,
    });
    if (!res.ok) throw apiError(res, this.server);
    return res.json() as T;
  }

  async #request(method: string, path: string, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = { accept: "application/json", ...this.#auth() };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.#fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw apiError(res, this.server);
    return res;
  }

  async #fetch(path: string, init: Exchange): Promise<Reply> {
    try {
      return await exchange(`${this.server}${path}`, init);
    } catch (e) {
      const cause = e as { code?: string; message?: string };
      if (cause?.code && NETWORK_ERRORS.has(cause.code))
        throw new WasmletError(
          "UNAVAILABLE",
          `cannot reach the wasmlet API at ${this.server} (is "wasmlet serve" running?)`,
          { cause: e },
        );
      throw new WasmletError(
        "UNAVAILABLE",
        `request to ${this.server}${path} failed: ${cause?.message ?? String(e)}`,
        {
          cause: e,
        },
      );
    }
  }
}

function parseEnvelope(body: Uint8Array): { code?: string; message?: string } | undefined {
  try {
    const v = JSON.parse(Buffer.from(body).toString("utf8")) as {
      error?: { code?: string; message?: string };
    };
    return typeof v?.error?.message === "string" ? v.error : undefined;
  } catch {
    return undefined;
  }
}

function apiError(res: Reply, server: string): WasmletError {
  const env = parseEnvelope(res.body);
  if (env?.message) {
    const code = env.code && env.code in HTTP_STATUS ? (env.code as ErrorCode) : codeForStatus(res.status);
    return new WasmletError(code, env.message);
  }
  return new WasmletError(
    codeForStatus(res.status),
    `the wasmlet API at ${server} answered HTTP ${res.status}`,
  );
}
