import { WasmletError } from "./errors.js";

/** Resource names: DNS-label-like, so they are valid as OCI repository components and Kubernetes names. */
export const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function checkName(name: unknown, field = "name"): string {
  if (typeof name !== "string" || name === "")
    throw new WasmletError("INVALID_ARGUMENT", `${field}: a name is required`);
  if (!NAME_RE.test(name))
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `${field}: "${name}" is not a valid name (use 1-63 characters from [a-z0-9-], starting and ending with a letter or digit)`,
    );
  return name;
}
