// One WAGI invocation on a FRESH instance (no snapshot reset): the isolation baseline shared by row W (inside
// workerd) and row B (a bare Node server). Imports only what also runs in workerd: the WASI host and the
// contracts, never src/runtime/index (it pulls in worker_threads).
import type { FunctionRecord } from "../../src/core/index.js";
import { CONTRACTS } from "../../src/runtime/contracts/index.js";
import type { InvocationRequest, InvocationResponse } from "../../src/runtime/types.js";
import { runFreshInstance, type WasiHost } from "../../src/runtime/wasi/index.js";

/** The function record every baseline serves: the same env as the X row (so the same "hi from wasmlet"). */
export const ECHO_FN: FunctionRecord = {
  name: "echo",
  contract: "wagi",
  args: [],
  env: { GREETING: "hi" },
  limits: { memoryMiB: 128, timeoutMs: 10_000, maxBodyBytes: 6 * 1024 * 1024 },
  current: { version: 1, image: "bench/echo:v1", digest: `sha256:${"0".repeat(64)}`, createdAt: "" },
  versions: [],
  createdAt: "",
  updatedAt: "",
};

/** Route shape of the X row's trigger (prefix `/echo`), so every server hands the module the same CGI env. */
export function echoRoute(path: string): InvocationRequest["route"] {
  const pathInfo = path.startsWith("/echo") ? path.slice(5) : path;
  return { pattern: "/echo/...", scriptName: "/echo", pathInfo, params: {} };
}

/**
 * Instantiates `module` anew, runs `_start` with the WAGI inputs of `req` and parses its CGI output.
 * `host` is reused (begin() resets all of its state); the instance is thrown away afterwards.
 */
export function runFresh(
  module: WebAssembly.Module,
  host: WasiHost,
  req: InvocationRequest,
): InvocationResponse {
  const wagi = CONTRACTS.wagi;
  const inputs = wagi.prepare(req, ECHO_FN, "/echo.wasm");
  const out = runFreshInstance(module, host, inputs);
  if (out.exitCode !== 0) return { status: 500, headers: [], body: out.stderr };
  return wagi.respond(out);
}
