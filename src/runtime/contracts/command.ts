import type { FunctionRecord } from "../../core/index.js";
import type { Contract, InvocationRequest, WasiInputs, WasiOutputs } from "../types.js";
import { envList, triggerVars } from "./env.js";

/**
 * `command`: a WASI preview1 command as crun runs it. argv = [entry, ...function args, ...invocation args],
 * env = function env, stdin = request body, stdout = response body (200, text/plain: a command
 * cannot choose its headers; use the wagi contract for that).
 * Invocation args come from the query string as repeated `arg` parameters (`?arg=a&arg=b`).
 */
export const COMMAND_CONTRACT: Contract = {
  prepare(req: InvocationRequest, fn: FunctionRecord, entry: string): WasiInputs {
    let args = baseArgs(fn, entry);
    const extra = req.query ? new URLSearchParams(req.query).getAll("arg") : [];
    if (extra.length > 0) args = [...args, ...extra];
    const env = req.trigger
      ? [...envList(fn), ...triggerVars(req.trigger).map(([k, v]) => `${k}=${v}`)]
      : envList(fn);
    return { args, env, stdin: req.body };
  },
  respond(out: WasiOutputs) {
    return {
      status: 200,
      headers: [["content-type", "text/plain; charset=utf-8"]],
      body: out.stdout,
    };
  },
};

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
