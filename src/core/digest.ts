import { createHash } from "node:crypto";
import { WasmletError } from "./errors.js";

/** An OCI content digest; wasmlet only produces sha256 ones. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

export function parseDigest(s: string, field = "digest"): Digest {
  if (!isDigest(s)) throw new WasmletError("INVALID_ARGUMENT", `${field}: "${s}" is not a sha256 digest`);
  return s;
}
