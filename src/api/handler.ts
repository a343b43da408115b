import type { IncomingMessage, ServerResponse } from "node:http";
import { HEALTH_PATH, WasmletError } from "../core/index.js";
import {
  authorised,
  Dispatcher,
  decodeSegment,
  methodNotAllowed,
  sendError,
  sendJson,
  splitTarget,
  unauthorisedError,
} from "../http/index.js";
import { PackageBuilds } from "./builds.js";
import { createCanary, deleteCanary, getCanary, listCanaries } from "./canaries.js";
import type { RecordsDeps, RecordsHandler, RouteContext, RouteHandler } from "./context.js";
import type { ApiHandler } from "./control.js";
import type { ApiDeps } from "./deps.js";
import {
  createEnvironment,
  deleteEnvironment,
  getEnvironment,
  listEnvironments,
  updateEnvironment,
} from "./environments.js";
import { createFunction, deleteFunction, getFunction, listFunctions, updateFunction } from "./functions.js";
import { getInvocation, listInvocations, purgeInvocations, redriveInvocations } from "./invocations.js";
import { invokeFunction, runFunction } from "./invoke.js";
import { KeyedLock } from "./keyed-lock.js";
import { apiLog } from "./lifecycle.js";
import { functionLogs } from "./logs.js";
import {
  createMqTrigger,
  deleteMqTrigger,
  getMqTrigger,
  listMqTriggers,
  updateMqTrigger,
} from "./mq-triggers.js";
import {
  bindFunction,
  createPackage,
  deletePackage,
  getPackage,
  listPackages,
  packageSource,
  rebuildPackage,
  updatePackage,
} from "./packages.js";
import { functionManifestYaml, registryGc } from "./registry-ops.js";
import { deleteSpecDeployment, getSpecDeployment, putSpecDeployment } from "./spec-deployments.js";
import {
  createTimeTrigger,
  deleteTimeTrigger,
  getTimeTrigger,
  listTimeTriggers,
  showSchedule,
  updateTimeTrigger,
} from "./time-triggers.js";
import {
  createHttpTrigger,
  deleteHttpTrigger,
  getHttpTrigger,
  listHttpTriggers,
  updateHttpTrigger,
} from "./triggers.js";
import {
  createConfig,
  createSecret,
  deleteConfig,
  deleteSecret,
  getConfig,
  getSecret,
  listConfigs,
  listSecrets,
  updateConfig,
  updateSecret,
} from "./values.js";
import { rollbackFunction } from "./versions.js";

const SEG = "([^/]+)";
// Invocation records, logs and async invocations: each node's own on a cluster, gathered by whichever node is asked.
const LOGS_PATH = new RegExp(`^/api/v1/functions/${SEG}/logs$`);
const INVOCATIONS_PATH = /^\/api\/v1\/invocations$/;
const REDRIVE_PATH = /^\/api\/v1\/invocations\/redrive$/;
const PURGE_PATH = /^\/api\/v1\/invocations\/purge$/;
const INVOCATION_PATH = new RegExp(`^/api/v1/invocations/${SEG}$`);
/** All a `--role router` node's control API answers: its own records (asked by a node gathering them) or everyone's. */
const RECORD_ROUTES = new Dispatcher<RecordsHandler>()
  .add(LOGS_PATH, { GET: functionLogs })
  .add(INVOCATIONS_PATH, { GET: listInvocations })
  .add(REDRIVE_PATH, { POST: redriveInvocations })
  .add(PURGE_PATH, { POST: purgeInvocations })
  .add(INVOCATION_PATH, { GET: getInvocation });
const ROUTES = new Dispatcher<RouteHandler>()
  .add(/^\/api\/v1\/functions$/, { GET: listFunctions, POST: createFunction })
  .add(new RegExp(`^/api/v1/functions/${SEG}$`), {
    GET: getFunction,
    PUT: updateFunction,
    DELETE: deleteFunction,
  })
  .add(new RegExp(`^/api/v1/functions/${SEG}/invoke(/.*)?$`), { "*": invokeFunction })
  .add(new RegExp(`^/api/v1/functions/${SEG}/run(/.*)?$`), { "*": runFunction })
  .add(LOGS_PATH, { GET: functionLogs })
  .add(new RegExp(`^/api/v1/functions/${SEG}/manifest$`), { GET: functionManifestYaml })
  .add(/^\/api\/v1\/registry\/gc$/, { POST: registryGc })
  .add(new RegExp(`^/api/v1/functions/${SEG}/rollback$`), { POST: rollbackFunction })
  .add(/^\/api\/v1\/packages$/, { GET: listPackages, POST: createPackage })
  .add(new RegExp(`^/api/v1/packages/${SEG}$`), {
    GET: getPackage,
    PUT: updatePackage,
    DELETE: deletePackage,
  })
  .add(new RegExp(`^/api/v1/packages/${SEG}/rebuild$`), { POST: rebuildPackage })
  .add(new RegExp(`^/api/v1/packages/${SEG}/source$`), { GET: packageSource })
  .add(new RegExp(`^/api/v1/packages/${SEG}/functions$`), { POST: bindFunction })
  .add(/^\/api\/v1\/environments$/, { GET: listEnvironments, POST: createEnvironment })
  .add(new RegExp(`^/api/v1/environments/${SEG}$`), {
    GET: getEnvironment,
    PUT: updateEnvironment,
    DELETE: deleteEnvironment,
  })
  .add(new RegExp(`^/api/v1/specdeployments/${SEG}$`), {
    GET: getSpecDeployment,
    PUT: putSpecDeployment,
    DELETE: deleteSpecDeployment,
  })
  .add(/^\/api\/v1\/triggers\/http$/, { GET: listHttpTriggers, POST: createHttpTrigger })
  .add(/^\/api\/v1\/canaries$/, { GET: listCanaries, POST: createCanary })
  .add(new RegExp(`^/api/v1/canaries/${SEG}$`), { GET: getCanary, DELETE: deleteCanary })
  .add(new RegExp(`^/api/v1/triggers/http/${SEG}$`), {
    GET: getHttpTrigger,
    PUT: updateHttpTrigger,
    DELETE: deleteHttpTrigger,
  })
  .add(/^\/api\/v1\/triggers\/time$/, { GET: listTimeTriggers, POST: createTimeTrigger })
  .add(new RegExp(`^/api/v1/triggers/time/${SEG}$`), {
    GET: getTimeTrigger,
    PUT: updateTimeTrigger,
    DELETE: deleteTimeTrigger,
  })
  .add(/^\/api\/v1\/schedule$/, { GET: showSchedule })
  .add(INVOCATIONS_PATH, { GET: listInvocations })
  .add(REDRIVE_PATH, { POST: redriveInvocations })
  .add(PURGE_PATH, { POST: purgeInvocations })
  .add(INVOCATION_PATH, { GET: getInvocation })
  .add(/^\/api\/v1\/secrets$/, { GET: listSecrets, POST: createSecret })
  .add(new RegExp(`^/api/v1/secrets/${SEG}$`), { GET: getSecret, PUT: updateSecret, DELETE: deleteSecret })
  .add(/^\/api\/v1\/configs$/, { GET: listConfigs, POST: createConfig })
  .add(new RegExp(`^/api/v1/configs/${SEG}$`), { GET: getConfig, PUT: updateConfig, DELETE: deleteConfig })
  .add(/^\/api\/v1\/triggers\/mq$/, { GET: listMqTriggers, POST: createMqTrigger })
  .add(new RegExp(`^/api/v1/triggers/mq/${SEG}$`), {
    GET: getMqTrigger,
    PUT: updateMqTrigger,
    DELETE: deleteMqTrigger,
  });

/**
 * Serves `/healthz` and `/api/v1/...` from `routes` (token checked first, 404 naming the path, 405 with Allow);
 * returns false without touching `res` for any other path. `context` makes each handler's context.
 */
function apiHandler<C>(
  routes: Dispatcher<(ctx: C) => Promise<void>>,
  opts: { token?: string; log: (line: string) => void; missing: (path: string) => string },
  context: (req: IncomingMessage, res: ServerResponse, params: string[], rawQuery: string) => C,
): ApiHandler {
  const { log } = opts;
  return async (req, res) => {
    const { path, rawQuery } = splitTarget(req.url);
    if (path === HEALTH_PATH) {
      sendJson(res, 200, { status: "ok" });
      return true;
    }
    if (path !== "/api/v1" && !path.startsWith("/api/v1/")) return false;
    try {
      if (opts.token !== undefined && !authorised(req, opts.token)) throw unauthorisedError();
      const method = req.method ?? "GET";
      const found = routes.match(method, path);
      if (found === undefined) throw new WasmletError("NOT_FOUND", opts.missing(path));
      if ("allow" in found) {
        sendError(req, res, methodNotAllowed(method, path, found.allow), {
          status: 405,
          headers: { allow: found.allow.join(", ") },
          log,
        });
        return true;
      }
      const params = found.params.map((p, i) => (i === 0 && p !== undefined ? decodeSegment(p) : (p ?? "")));
      await found.handler(context(req, res, params, rawQuery));
      return true;
    } catch (e) {
      sendError(req, res, e, { log });
      return true;
    }
  };
}

/**
 * The control-plane API as a node:http handler. Answers `/healthz` and everything under `/api/v1` (returning true);
 * returns false without touching `res` for any other path, so serve can mount it beside the registry.
 */
export function createApiHandler(deps: ApiDeps): ApiHandler {
  const locks = new KeyedLock();
  const builds = new PackageBuilds(deps, locks);
  // Builds a previous process left pending or running start again (their sources are in the registry).
  const log = apiLog(deps);
  void builds.recover().catch((e) => log(`wasmlet api: cannot requeue package builds: ${e}`));
  return apiHandler(
    ROUTES,
    { token: deps.token, log, missing: (path) => `path: no API endpoint at ${path}` },
    (req, res, params, rawQuery): RouteContext => ({ req, res, deps, params, rawQuery, locks, builds }),
  );
}

/**
 * The API of a `--role router` node's control port: invocation records, logs and async invocations (those of the
 * requests it served and the invocations it accepted), this node's own when another node gathers them, everyone's
 * otherwise. Every other `/api/v1` path is a 404 that says where the API is.
 */
export function createRecordsHandler(deps: RecordsDeps): ApiHandler {
  return apiHandler(
    RECORD_ROUTES,
    {
      token: deps.token,
      log: deps.log ?? ((line) => console.error(line)),
      missing: (path) =>
        `path: ${path} — this node runs --role router: only invocation records and logs here (functions/NAME/logs, invocations); the control API is on the control nodes`,
    },
    (req, res, params, rawQuery) => ({ req, res, deps, params, rawQuery }),
  );
}
