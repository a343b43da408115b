import { toWasmletError, WasmletError } from "../core/index.js";
import { readBody } from "../http/index.js";
import type { InvocationRequest, InvocationResponse } from "../runtime/index.js";
import type { RouteContext } from "./context.js";
import { functionOr404 } from "./lifecycle.js";

/** Headers that belong to this hop (or to the control plane) and must not reach the function or come back from it. */
const HOP_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"]);

/** `ANY /api/v1/functions/:name/invoke[/<path>][?query]`: runs the function once and answers with what it returned. */
export async function invokeFunction(ctx: RouteContext): Promise<void> {
  const [name, rest] = ctx.params;
  const { req, res, deps } = ctx;
  const fn = await functionOr404(deps.store, name);
  const body = await readBody(req, fn.limits.maxBodyBytes);

  // No prototype: a header named "constructor" or "__proto__" is just a header.
  const headers: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(req.headers)) {
    // The API token authorises the control plane, not the function: never hand it over.
    if (v === undefined || k === "authorization" || HOP_HEADERS.has(k)) continue;
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
    trigger: "api",
  };
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
  for (const [k, v] of out.headers) if (!HOP_HEADERS.has(k.toLowerCase())) flat.push(k, v);
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
