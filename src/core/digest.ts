import { createHash } from "node:crypto";
import { WasmletError } from "./errors.js";

/** The digest algorithms wasmlet reads and verifies (OCI image-spec's registered ones), with their hex lengths. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** An OCI content digest; wasmlet produces sha256 ones and accepts sha512 ones too. */
export type Digest = `${DigestAlgorithm}:${string}`;

const DIGEST_RE = new RegExp(
  `^(?:${Object.entries(DIGEST_ALGORITHMS)
    .map(([alg, len]) => `${alg}:[a-f0-9]{${len}}`)
    .join("|")})$`,
);

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The digest of `data` under `algorithm`. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

export function isDigestAlgorithm(s: string): s is DigestAlgorithm {
  return Object.hasOwn(DIGEST_ALGORITHMS, s);
}

/** The algorithm part of a digest. */
export function digestAlgorithm(d: Digest): DigestAlgorithm {
  return d.slice(0, d.indexOf(":")) as DigestAlgorithm;
}

/** True when `data` hashes to `d` under d's own algorithm. */
export function matchesDigest(data: Uint8Array | string, d: Digest): boolean {
  return digestOf(data, digestAlgorithm(d)) === d;
}

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

export function parseDigest(s: string, field = "digest"): Digest {
  if (!isDigest(s))
    throw new WasmletError("INVALID_ARGUMENT", `${field}: "${s}" is not a sha256 or sha512 digest`);
  return s;
}
