import type { IncomingMessage } from "node:http";
import { WasmletError } from "../core/index.js";
import {
  multipartBoundary,
  multipartDelimiter,
  parseJson,
  parseMultipart,
  readJson as readLimitedJson,
  readSharedBodyFinding,
} from "../http/index.js";
import { type CappedModule, LAZY_COMPILE_MIN_BYTES } from "../wasm/index.js";
import { EarlyCompile, type StartImage } from "./early-compile.js";
import { discardEarlyImage, type EarlyImage, PAGES_PER_MIB } from "./source.js";

/** Largest JSON body the control API accepts (a base64 module of ~48 MiB fits). */
export const MAX_API_BODY_BYTES = 64 * 1024 * 1024;

/** Reads and parses a JSON request body of at most MAX_API_BODY_BYTES; an empty body is `{}`. */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return readLimitedJson(req, MAX_API_BODY_BYTES);
}

/** The parts of a function's multipart body: the JSON fields and the module's raw bytes. */
export const FUNCTION_PART = "function";
export const CODE_PART = "code";

/** A function's create or update body, read. */
export interface FunctionBody {
  json: unknown;
  /** The module's bytes as uploaded (multipart), in shared memory. */
  module?: Uint8Array;
  /** The module, compiled as it arrived (EarlyCompile), when it was. */
  compiled?: Promise<CappedModule | undefined>;
  /** Its image, built as it arrived (EarlyCompile, source.ts earlyImage), when it was: discardEarlyImage if unused. */
  built?: EarlyImage;
}

/**
 * The body of a function create or update: JSON, or `multipart/form-data` with a `function` part (the same JSON
 * object, without `code`) and a `code` part (the module's bytes as they are). The second spares the request
 * thread the base64 of a large module: for 30 MB, ~40 MB of JSON to parse and two decodes (~0.2 s here).
 * `json.code` is then "" (so the schema's checks on code see one) and `module` holds the bytes, in shared memory
 * (the runtime's workers then share them as the image's file, without a copy). `memoryMiB`: the function's
 * memory cap when the body does not set `limits.memoryMiB` (a large module is compiled under it as it arrives).
 */
export async function readFunctionBody(
  req: IncomingMessage,
  memoryMiB: number,
  startImage?: StartImage,
): Promise<FunctionBody> {
  const type = req.headers["content-type"] ?? "";
  if (!/^multipart\/form-data\s*;/i.test(type)) return { json: await readJson(req) };
  const length = Number(req.headers["content-length"]);
  // The delimiters are found as the body arrives, not searched for in 30 MB after it.
  const boundary = multipartBoundary(type);
  const delimiter = multipartDelimiter(boundary);
  // A large module is compiled as it arrives, capped as the fields ask or at the function's cap.
  let early: EarlyCompile | undefined;
  if (length >= LAZY_COMPILE_MIN_BYTES) {
    early = new EarlyCompile(
      boundary,
      delimiter,
      length,
      (fields) => PAGES_PER_MIB * requestedMemoryMiB(fields, memoryMiB),
      startImage,
    );
  }
  let body: Uint8Array;
  let parts: Map<string, Uint8Array>;
  try {
    let found: number[];
    ({ body, found } = await readSharedBodyFinding(
      req,
      MAX_API_BODY_BYTES,
      delimiter,
      undefined,
      early?.onData,
    ));
    parts = parseMultipart(body, type, found);
  } catch (e) {
    early?.stop();
    throw e;
  }
  const compiled = early?.result(body, parts.get(CODE_PART));
  const image = early?.imageOf(parts.get(CODE_PART));
  let result: FunctionBody;
  try {
    result = checkParts(parts);
  } catch (e) {
    early?.stop();
    if (image) discardEarlyImage(image);
    throw e;
  }
  if (compiled) result.compiled = compiled;
  if (image) result.built = image;
  return result;
}

/** `limits.memoryMiB` of a function's fields when it is a number, else `otherwise`. */
function requestedMemoryMiB(fields: unknown, otherwise: number): number {
  const limits = (fields as { limits?: { memoryMiB?: unknown } } | null)?.limits;
  return typeof limits?.memoryMiB === "number" ? limits.memoryMiB : otherwise;
}

/** A function's body from its multipart parts, checked. */
function checkParts(parts: Map<string, Uint8Array>): FunctionBody {
  for (const name of parts.keys())
    if (name !== FUNCTION_PART && name !== CODE_PART)
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `body: unknown part "${name}" (a function's multipart body has "${FUNCTION_PART}" and "${CODE_PART}")`,
      );
  const fields = parts.get(FUNCTION_PART);
  const json = fields === undefined ? {} : parseJson(fields);
  const module = parts.get(CODE_PART);
  if (module === undefined) return { json };
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new WasmletError("INVALID_ARGUMENT", `body: part "${FUNCTION_PART}" must be a JSON object`);
  if ("code" in json)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `code: given twice, in the "${FUNCTION_PART}" part and as the "${CODE_PART}" part`,
    );
  return { json: { ...json, code: "" }, module };
}
