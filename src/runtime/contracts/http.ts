import { type FunctionRecord, WasmletError } from "../../core/index.js";
import type { Contract, InvocationRequest, InvocationResponse, WasiInputs, WasiOutputs } from "../types.js";
import { envList } from "./env.js";

/**
 * `http`: a `wasi:http/proxy` component. Its `wasi:http/incoming-handler` gets the request (method, path with
 * query, headers, body); the status, headers and body it sets are the response. argv and env are the function's,
 * as for `command`, for components that read them through wasi:cli.
 */
export const HTTP_CONTRACT: Contract = {
  prepare(req: InvocationRequest, fn: FunctionRecord, entry: string): WasiInputs {
    const headers: [string, string][] = [];
    for (const name in req.headers) headers.push([name, req.headers[name]]);
    return {
      args: [entry, ...fn.args],
      env: envList(fn),
      stdin: req.body,
      http: {
        method: req.method,
        pathWithQuery: req.url,
        authority: req.headers.host ?? `${req.serverName}:${req.serverPort}`,
        headers,
      },
      allowOutbound: fn.allowOutbound,
    };
  },
  respond(out: WasiOutputs): InvocationResponse {
    if (!out.http) throw new WasmletError("BAD_GATEWAY", "the component set no response");
    return { status: out.http.status, headers: out.http.headers, body: out.stdout };
  },
};
