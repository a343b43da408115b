import {
  type FunctionRecord,
  INVOCATION_ID_ENV,
  INVOCATION_ID_HEADER,
  WasmletError,
} from "../../core/index.js";
import type { Contract, InvocationRequest, InvocationResponse, WasiInputs, WasiOutputs } from "../types.js";
import { envList, triggerVars } from "./env.js";

/**
 * `command`: a WASI preview1 command as crun runs it. argv = [entry, ...function args, ...invocation args],
 * env = function env, stdin = request body, stdout = response body (200, text/plain: a command
 * cannot choose its headers; use the wagi contract for that).
 * Invocation args come from the query string as repeated `arg` parameters (`?arg=a&arg=b`).
 */
/**
 * Response header with a command's exit status: "0" on every answer of a command function, and the status on the
 * 500 of any function that exited with another.
 */
export const EXIT_CODE_HEADER = "x-wasmlet-exit-code";

export const COMMAND_CONTRACT: Contract = {
  prepare(req: InvocationRequest, fn: FunctionRecord, entry: string): WasiInputs {
    let args = baseArgs(fn, entry);
    const extra = req.query ? new URLSearchParams(req.query).getAll("arg") : [];
    if (extra.length > 0) args = [...args, ...extra];
    return {
      args,
      env: invocationEnv(fn, req),
      stdin: req.body,
      collect: fn.outputFile,
      allowOutbound: fn.allowOutbound,
    };
  },
  respond(out: WasiOutputs) {
    // Asked for through fn.outputFile (prepare's collect): the body is the file, not stdout.
    if (out.files !== undefined) return fileResponse(out.files);
    return { status: 200, headers: STDOUT_HEADERS, body: out.stdout };
  },
};

/**
 * The function's env, and, for a request that came over HTTP (router, the API's invoke: they set the id header) or
 * from a trigger (the runtime sets it),
 * what a command learns of its invocation: its id (WASMLET_INVOCATION_ID) and the caller's W3C trace context
 * (TRACEPARENT, when sent) — a WAGI function reads both from its CGI variables instead. `fn test` runs the program
 * with its own env only, as a command line would.
 */
function invocationEnv(fn: FunctionRecord, req: InvocationRequest): string[] {
  const env = envList(fn);
  const id = req.headers[INVOCATION_ID_HEADER];
  if (id === undefined && !req.trigger) return env;
  // A trigger's invocation (timer, queue, async) also says what started it: WASMLET_TRIGGER* (env.ts).
  const out = req.trigger ? [...env, ...triggerVars(req.trigger).map(([k, v]) => `${k}=${v}`)] : [...env];
  if (id === undefined) return out;
  out.push(`${INVOCATION_ID_ENV}=${id}`);
  const tp = req.headers.traceparent;
  if (tp !== undefined) out.push(`TRACEPARENT=${tp}`);
  return out;
}

const argsCache = new WeakMap<FunctionRecord, { entry: string; args: string[] }>();

/**
 * `[entry, ...fn.args]`, one array per record and entry (records are immutable once stored): the WASI host
 * encodes args again only when it is handed another array.
 */
function baseArgs(fn: FunctionRecord, entry: string): string[] {
  const hit = argsCache.get(fn);
  if (hit?.entry === entry) return hit.args;
  const args = [entry, ...fn.args];
  argsCache.set(fn, { entry, args });
  return args;
}

/** Response headers shared by every answer (never mutated: the router and the API only read them). */
const STDOUT_HEADERS: [string, string][] = [
  ["content-type", "text/plain; charset=utf-8"],
  [EXIT_CODE_HEADER, "0"],
];
const FILE_HEADERS: [string, string][] = [
  ["content-type", "application/octet-stream"],
  [EXIT_CODE_HEADER, "0"],
];

function fileResponse(files: Map<string, Uint8Array>): InvocationResponse {
  for (const body of files.values()) return { status: 200, headers: FILE_HEADERS, body };
  throw new WasmletError(
    "FUNCTION_FAILED",
    "the program exited with status 0 but did not write its output file",
  );
}
