import {
  DIGEST_ALGORITHMS,
  type Digest,
  type DigestAlgorithm,
  isDigest,
  isDigestAlgorithm,
} from "../core/index.js";
import { OciError } from "./oci-error.js";

const SUPPORTED = Object.keys(DIGEST_ALGORITHMS).join(", ");

/** A digest the client sent (a path segment, a query parameter), or 400 DIGEST_INVALID naming `field`. */
export function parseDigestParam(s: string | null, field: string): Digest {
  if (s === null || s === "") throw new OciError(400, "DIGEST_INVALID", `${field}: a digest is required`);
  if (isDigest(s)) return s;
  const colon = s.indexOf(":");
  if (colon > 0 && !isDigestAlgorithm(s.slice(0, colon)))
    throw new OciError(
      400,
      "DIGEST_INVALID",
      `${field}: algorithm "${s.slice(0, colon)}" is not supported (${SUPPORTED})`,
    );
  throw new OciError(400, "DIGEST_INVALID", `${field}: "${s}" is not <algorithm>:<hex> (${SUPPORTED})`);
}

/** The `digest-algorithm` parameter of an upload's POST (default sha256), or 400 DIGEST_INVALID. */
export function parseAlgorithmParam(s: string | null): DigestAlgorithm {
  if (s === null || s === "") return "sha256";
  if (!isDigestAlgorithm(s))
    throw new OciError(400, "DIGEST_INVALID", `digest-algorithm: "${s}" is not supported (${SUPPORTED})`);
  return s;
}
