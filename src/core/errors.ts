/**
 * One error class for the whole platform. Every failure a user can see carries a code; the code, and
 * only the code, decides the HTTP status (see HTTP_STATUS). Foreign errors (errno, registry statuses,
 * wasm traps) are translated into a WasmletError at the boundary where they are caught.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT" // bad input to the API or CLI: names the field
  | "INVALID_MODULE" // not wasm, wrong imports, missing exports
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "CONFLICT" // e.g. a route that clashes with another
  | "PAYLOAD_TOO_LARGE"
  | "UNAUTHORIZED"
  | "IMAGE_PULL_FAILED" // an image reference that does not resolve or cannot be fetched
  | "FUNCTION_FAILED" // trap, non-zero exit, memory over its cap
  | "FUNCTION_TIMEOUT"
  | "BAD_GATEWAY" // malformed CGI output from a wagi function
  | "OVERLOADED" // all sandboxes busy and the queue full: 503 with Retry-After
  | "CANCELLED" // the caller went away before the answer (nginx's 499: only ever seen in logs)
  | "BUILD_FAILED"
  | "UNAVAILABLE"
  | "INTERNAL";

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_MODULE: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  IMAGE_PULL_FAILED: 502,
  FUNCTION_FAILED: 500,
  FUNCTION_TIMEOUT: 504,
  BAD_GATEWAY: 502,
  OVERLOADED: 503,
  CANCELLED: 499,
  BUILD_FAILED: 422,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export class WasmletError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "WasmletError";
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isWasmletError(e: unknown, code?: ErrorCode): e is WasmletError {
  return e instanceof WasmletError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into a WasmletError, keeping a WasmletError as it is. */
export function toWasmletError(e: unknown, fallback: ErrorCode = "INTERNAL"): WasmletError {
  if (e instanceof WasmletError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new WasmletError(fallback, message, { cause: e });
}

/** Maps a status received from a wasmlet API back to a code (used by the typed API client). */
export function codeForStatus(status: number): ErrorCode {
  for (const [code, s] of Object.entries(HTTP_STATUS)) if (s === status) return code as ErrorCode;
  return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
}

/** Set (to the error code) on every error the control API itself answers, so a client can tell them from a function's own answer. */
export const API_ERROR_HEADER = "x-wasmlet-error";
