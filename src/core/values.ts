import type { FunctionRecord } from "./types.js";

/**
 * Secrets and configs a function uses (`fn create --secret db --config app`): named sets of key → value that
 * the guest reads as files `/secrets/<name>/<key>` and `/configs/<name>/<key>` (Fission's layout), as
 * environment variables (`--env-from-secret VAR=db/password`) and, in a component, through `wasi:config/store`
 * (keys `<name>/<key>`).
 */

/** The kinds of named value set a function may use. */
export const VALUE_KINDS = ["secret", "config"] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];

/** Where each kind's sets appear in the guest's filesystem. */
export const VALUE_DIRS: Readonly<Record<ValueKind, string>> = { secret: "/secrets", config: "/configs" };

/** A key of a secret or config: a file name (Kubernetes' rule for Secret and ConfigMap keys). */
export const VALUE_KEY_RE = /^[-._a-zA-Z0-9]{1,253}$/;

/** Why `key` cannot be a key of a secret or config, or undefined. */
export function valueKeyProblem(key: string): string | undefined {
  if (!VALUE_KEY_RE.test(key)) return "must be 1-253 characters from [-._a-zA-Z0-9]";
  if (key === "." || key === "..") return 'must not be "." or ".."';
  return undefined;
}

/** One value a function takes into an environment variable: `kind` `name`'s `key`. */
export interface ValueRef {
  kind: ValueKind;
  name: string;
  key: string;
}

/** `db/password` → name and key (undefined when it is not of that form). */
export function parseValueRef(kind: ValueKind, text: string): ValueRef | undefined {
  const slash = text.indexOf("/");
  if (slash <= 0 || slash === text.length - 1) return undefined;
  return { kind, name: text.slice(0, slash), key: text.slice(slash + 1) };
}

/** Every secret or config (by kind) a function names: mounted ones and those its environment takes values from. */
export function valueUses(fn: {
  secrets?: string[];
  configs?: string[];
  envFrom?: Record<string, ValueRef>;
}): Record<ValueKind, Set<string>> {
  const uses = { secret: new Set(fn.secrets ?? []), config: new Set(fn.configs ?? []) };
  for (const ref of Object.values(fn.envFrom ?? {})) uses[ref.kind].add(ref.name);
  return uses;
}

/**
 * What an invocation of a function that uses secrets or configs gets, read from the store at the time (the data
 * plane re-reads a set when the change feed says it changed): the function with its `envFrom` variables in its
 * env, the files under `/secrets` and `/configs`, and the `wasi:config/store` entries.
 */
export interface FunctionValues {
  /** The function record with `env` completed; the same object while nothing it uses changes. */
  fn: FunctionRecord;
  /** Read-only directories: guest path (`/secrets/db`) → file name → bytes. */
  mounts: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>;
  /** `wasi:config/store` entries: `<name>/<key>` → value (text), of every config and secret the function mounts. */
  config: readonly [string, string][];
}

/** True when the function uses any secret or config (so its invocations need FunctionValues). */
export function usesValues(fn: FunctionRecord): boolean {
  return fn.secrets !== undefined || fn.configs !== undefined || fn.envFrom !== undefined;
}
