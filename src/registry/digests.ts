import { type Digest, isDigest } from "../core/index.js";
import { OciError } from "./oci-error.js";

/** A digest the client sent (a path segment, a query parameter), or 400 DIGEST_INVALID naming `field`. */
export function parseDigestParam(s: string | null, field: string): Digest {
  if (s === null || s === "") throw new OciError(400, "DIGEST_INVALID", `${field}: a digest is required`);
  if (!s.startsWith("sha256:"))
    throw new OciError(400, "DIGEST_INVALID", `${field}: only sha256 digests are supported`);
  if (!isDigest(s))
    throw new OciError(400, "DIGEST_INVALID", `${field}: "${s}" is not sha256:<64 hex digits>`);
  return s;
}
