import {
  type FunctionRecord,
  INVOCATION_ID_HEADER,
  invocationId,
  nextInvocation,
  preopenPath,
  preopenProblem,
  toWasmletError,
  WasmletError,
} from "../core/index.js";
import { readBody, sendJson } from "../http/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import type { RouteContext } from "./context.js";
import { functionOr404 } from "./lifecycle.js";

/** Headers that belong to this hop (or to the control plane) and must not reach the function or come back from it. */
const HOP_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"]);

/** Request header of `/run`: the guest directory (a preopen's name, "/" included, or an absolute path) whose written files come back. */
export const COLLECT_HEADER = "x-wasmlet-collect";

/**
 * The function named in the route, and the request it is invoked with (body read within its limit), with its
 * invocation number; the id header is /invoke's to set.
 */
async function invocationOf(
  ctx: RouteContext,
): Promise<{ fn: FunctionRecord; invocation: InvocationRequest }> {
  const [name, rest] = ctx.params;
  const { req, deps } = ctx;
  const fn = await functionOr404(deps.store, name);
  const body = await readBody(req, fn.limits.maxBodyBytes);

  // No prototype: a header named "constructor" or "__proto__" is just a header.
  const headers: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(req.headers)) {
    // The API token authorises the control plane, not the function: never hand it over.
    // Nor does a caller choose the invocation's id (/invoke sets it; /run, a command line, has none).
    if (
      v === undefined ||
      k === "authorization" ||
      k === COLLECT_HEADER ||
      k === INVOCATION_ID_HEADER ||
      HOP_HEADERS.has(k)
    )
      continue;
    headers[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  const path = rest || "/";
  const host = (req.headers.host ?? "").replace(/:\d+$/, "");
  const invocation: InvocationRequest = {
    method: req.method ?? "GET",
    url: ctx.rawQuery ? `${path}?${ctx.rawQuery}` : path,
    path,
    query: ctx.rawQuery,
    headers,
    body,
    remoteAddr: req.socket.remoteAddress ?? "",
    remotePort: req.socket.remotePort ?? 0,
    serverName: host || (req.socket.localAddress ?? ""),
    serverPort: req.socket.localPort ?? 0,
    protocol: `HTTP/${req.httpVersion}`,
    route: { pattern: "/...", scriptName: "", pathInfo: path, params: {} },
    source: "api",
    invocation: nextInvocation(),
  };
  return { fn, invocation };
}

/**
 * `ANY /api/v1/functions/:name/run[/<path>][?query]` (`fn test`): runs the function once like /invoke and answers
 * with what the program did, as JSON: `{status, exitCode, stdout, stderr, files, error?}`, bytes in base64. With
 * the COLLECT_HEADER, `files` holds what the run wrote under that directory (by absolute guest path).
 */
export async function runFunction(ctx: RouteContext): Promise<void> {
  const { fn, invocation } = await invocationOf(ctx);
  const raw = ctx.req.headers[COLLECT_HEADER];
  let collect: string | undefined;
  if (raw === "/") collect = "/";
  else if (typeof raw === "string" && raw !== "") {
    const problem = preopenProblem(raw);
    if (problem) throw new WasmletError("INVALID_ARGUMENT", `${COLLECT_HEADER}: "${raw}" ${problem}`);
    collect = preopenPath(raw);
  }
  const report = await ctx.deps.run(fn, invocation, collect);
  ctx.res.setHeader(INVOCATION_ID_HEADER, invocationId(invocation.invocation as number));
  const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
  sendJson(ctx.res, 200, {
    status: report.status,
    exitCode: report.exitCode,
    stdout: b64(report.stdout),
    stderr: b64(report.stderr),
    files: Object.fromEntries([...report.files].map(([p, bytes]) => [p, b64(bytes)])),
    ...(report.error !== undefined ? { error: report.error } : {}),
  });
}

/** `ANY /api/v1/functions/:name/invoke[/<path>][?query]`: runs the function once and answers with what it returned. */
export async function invokeFunction(ctx: RouteContext): Promise<void> {
  const { res, deps } = ctx;
  const { fn, invocation } = await invocationOf(ctx);
  // The function sees its invocation's id, as behind the router (a command in its env, a WAGI one in CGI).
  const id = invocationId(invocation.invocation as number);
  invocation.headers[INVOCATION_ID_HEADER] = id;
  const name = fn.name;
  let out: InvocationResponse;
  try {
    out = await deps.invoke(fn, invocation);
  } catch (e) {
    // A failed run is the function's outcome (timeout, trap...), not an API error: answer it unmarked, as the router would.
    const err = toWasmletError(e);
    out = {
      status: err.status,
      headers: [["content-type", "application/json"]],
      body: Buffer.from(JSON.stringify(err.toJSON())),
    };
  }

  const flat: string[] = [];
  for (const [k, v] of out.headers)
    if (!HOP_HEADERS.has(k.toLowerCase()) && k.toLowerCase() !== INVOCATION_ID_HEADER) flat.push(k, v);
  flat.push(INVOCATION_ID_HEADER, id);
  // RFC 9110 §8.6: no Content-Length (and no body) on 204 or 304.
  const bodiless = out.status === 204 || out.status === 304;
  if (!bodiless) flat.push("content-length", String(out.body.length));
  try {
    res.writeHead(out.status, flat);
  } catch (e) {
    res.removeHeader("content-length");
    throw new WasmletError(
      "BAD_GATEWAY",
      `function "${name}" returned an invalid response header: ${(e as Error).message}`,
    );
  }
  res.end(bodiless ? undefined : out.body);
}
