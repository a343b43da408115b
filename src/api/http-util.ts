import type { IncomingMessage } from "node:http";
import { readJson as readLimitedJson } from "../http/index.js";

/** Largest JSON body the control API accepts (a base64 module of ~48 MiB fits). */
export const MAX_API_BODY_BYTES = 64 * 1024 * 1024;

/** Reads and parses a JSON request body of at most MAX_API_BODY_BYTES; an empty body is `{}`. */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return readLimitedJson(req, MAX_API_BODY_BYTES);
}
