import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HEALTH_PATH, WasmletError } from "../core/index.js";
import { PackageBuilds } from "./builds.js";
import type { RouteContext, RouteHandler } from "./context.js";
import type { ApiDeps } from "./deps.js";
import {
  createEnvironment,
  deleteEnvironment,
  getEnvironment,
  listEnvironments,
  updateEnvironment,
} from "./environments.js";
import {
  createFunction,
  deleteFunction,
  functionLogs,
  getFunction,
  listFunctions,
  updateFunction,
} from "./functions.js";
import { sendError, sendJson } from "./http-util.js";
import { getInvocation, listInvocations, purgeInvocations, redriveInvocations } from "./invocations.js";
import { invokeFunction } from "./invoke.js";
import { KeyedLock } from "./keyed-lock.js";
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
import { createHttpTrigger, deleteHttpTrigger, getHttpTrigger, listHttpTriggers } from "./triggers.js";
import { rollbackFunction } from "./versions.js";

interface Route {
  re: RegExp;
  /** Handlers by method; `*` takes any method. */
  methods: Record<string, RouteHandler>;
}

const SEG = "([^/]+)";
const ROUTES: Route[] = [
  { re: /^\/api\/v1\/functions$/, methods: { GET: listFunctions, POST: createFunction } },
  {
    re: new RegExp(`^/api/v1/functions/${SEG}$`),
    methods: { GET: getFunction, PUT: updateFunction, DELETE: deleteFunction },
  },
  { re: new RegExp(`^/api/v1/functions/${SEG}/invoke(/.*)?$`), methods: { "*": invokeFunction } },
  { re: new RegExp(`^/api/v1/functions/${SEG}/logs$`), methods: { GET: functionLogs } },
  { re: new RegExp(`^/api/v1/functions/${SEG}/manifest$`), methods: { GET: functionManifestYaml } },
  { re: /^\/api\/v1\/registry\/gc$/, methods: { POST: registryGc } },
  { re: new RegExp(`^/api/v1/functions/${SEG}/rollback$`), methods: { POST: rollbackFunction } },
  { re: /^\/api\/v1\/packages$/, methods: { GET: listPackages, POST: createPackage } },
  {
    re: new RegExp(`^/api/v1/packages/${SEG}$`),
    methods: { GET: getPackage, PUT: updatePackage, DELETE: deletePackage },
  },
  { re: new RegExp(`^/api/v1/packages/${SEG}/rebuild$`), methods: { POST: rebuildPackage } },
  { re: new RegExp(`^/api/v1/packages/${SEG}/source$`), methods: { GET: packageSource } },
  { re: new RegExp(`^/api/v1/packages/${SEG}/functions$`), methods: { POST: bindFunction } },
  { re: /^\/api\/v1\/environments$/, methods: { GET: listEnvironments, POST: createEnvironment } },
  {
    re: new RegExp(`^/api/v1/environments/${SEG}$`),
    methods: { GET: getEnvironment, PUT: updateEnvironment, DELETE: deleteEnvironment },
  },
  {
    re: new RegExp(`^/api/v1/specdeployments/${SEG}$`),
    methods: { GET: getSpecDeployment, PUT: putSpecDeployment, DELETE: deleteSpecDeployment },
  },
  { re: /^\/api\/v1\/triggers\/http$/, methods: { GET: listHttpTriggers, POST: createHttpTrigger } },
  {
    re: new RegExp(`^/api/v1/triggers/http/${SEG}$`),
    methods: { GET: getHttpTrigger, DELETE: deleteHttpTrigger },
  },
  { re: /^\/api\/v1\/triggers\/time$/, methods: { GET: listTimeTriggers, POST: createTimeTrigger } },
  {
    re: new RegExp(`^/api/v1/triggers/time/${SEG}$`),
    methods: { GET: getTimeTrigger, PUT: updateTimeTrigger, DELETE: deleteTimeTrigger },
  },
  { re: /^\/api\/v1\/schedule$/, methods: { GET: showSchedule } },
  { re: /^\/api\/v1\/invocations$/, methods: { GET: listInvocations } },
  { re: /^\/api\/v1\/invocations\/redrive$/, methods: { POST: redriveInvocations } },
  { re: /^\/api\/v1\/invocations\/purge$/, methods: { POST: purgeInvocations } },
  { re: new RegExp(`^/api/v1/invocations/${SEG}$`), methods: { GET: getInvocation } },
  { re: /^\/api\/v1\/triggers\/mq$/, methods: { GET: listMqTriggers, POST: createMqTrigger } },
  {
    re: new RegExp(`^/api/v1/triggers/mq/${SEG}$`),
    methods: { GET: getMqTrigger, PUT: updateMqTrigger, DELETE: deleteMqTrigger },
  },
];

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function authorised(req: IncomingMessage, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
  // Hashing first gives equal-length buffers, so the comparison time says nothing about the token.
  return m !== null && timingSafeEqual(sha256(m[1].trim()), sha256(token));
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new WasmletError("INVALID_ARGUMENT", `path: "${s}" is not a valid percent-encoded segment`);
  }
}

/**
 * The control-plane API as a node:http handler. Answers `/healthz` and everything under `/api/v1` (returning true);
 * returns false without touching `res` for any other path, so serve can mount it beside the registry.
 */
export function createApiHandler(
  deps: ApiDeps,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const locks = new KeyedLock();
  const builds = new PackageBuilds(deps, locks);
  // Builds a previous process left pending or running start again (their sources are in the registry).
  void builds.recover().catch((e) => console.error("wasmlet api: cannot requeue package builds:", e));
  return async (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? "" : url.slice(q + 1);
    if (path === HEALTH_PATH) {
      sendJson(res, 200, { status: "ok" });
      return true;
    }
    if (path !== "/api/v1" && !path.startsWith("/api/v1/")) return false;
    try {
      if (deps.token !== undefined && !authorised(req, deps.token))
        throw new WasmletError("UNAUTHORIZED", "authorization: a valid bearer token is required");
      const method = req.method ?? "GET";
      for (const route of ROUTES) {
        const m = route.re.exec(path);
        if (!m) continue;
        const handler = route.methods[method] ?? route.methods["*"];
        if (!handler) {
          const allowed = Object.keys(route.methods).join(", ");
          sendError(
            res,
            new WasmletError(
              "INVALID_ARGUMENT",
              `method ${method} is not allowed on ${path} (allowed: ${allowed})`,
            ),
            405,
            {
              allow: allowed,
            },
          );
          return true;
        }
        const params = m.slice(1).map((p, i) => (i === 0 && p !== undefined ? decodeSegment(p) : (p ?? "")));
        const ctx: RouteContext = { req, res, deps, params, rawQuery, locks, builds };
        await handler(ctx);
        return true;
      }
      throw new WasmletError("NOT_FOUND", `path: no API endpoint at ${path}`);
    } catch (e) {
      sendError(res, e);
      // An unread request body would otherwise be taken as the next request on a kept-alive connection.
      if (!req.readableEnded) req.resume();
      return true;
    }
  };
}
