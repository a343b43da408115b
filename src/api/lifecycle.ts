import {
  CONTRACTS_FOR,
  type ContractName,
  DEFAULT_LIMITS,
  type FunctionRecord,
  type FunctionVersion,
  WasmletError,
} from "../core/index.js";
import type { Store } from "../store/index.js";
import type { ApiDeps } from "./deps.js";

/** The settings a function is created with; what is not given gets the platform's default. */
export interface FunctionSettings
  extends Partial<Pick<FunctionRecord, "contract" | "args" | "env" | "allowOutbound">> {
  limits?: Partial<FunctionRecord["limits"]>;
}

/** A new function's record: version 1 current, every default filled in. */
export function newFunctionRecord(
  name: string,
  settings: FunctionSettings,
  first: FunctionVersion,
  extra: Partial<Pick<FunctionRecord, "package">> = {},
): FunctionRecord {
  const now = first.createdAt;
  return {
    name,
    contract: chooseContract(first, settings.contract),
    args: settings.args ?? [],
    env: settings.env ?? {},
    limits: { ...DEFAULT_LIMITS, ...settings.limits },
    ...(settings.allowOutbound?.length ? { allowOutbound: settings.allowOutbound } : {}),
    current: first,
    versions: [first],
    ...extra,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * The contract a function runs `version` under: `requested` when that code can run under it (else
 * INVALID_ARGUMENT naming the contracts it can), otherwise `previous` if it still fits, otherwise the first that
 * fits the code (a `wasi:http/proxy` component gets `http`, a module or `wasi:cli/command` component `command`).
 */
export function chooseContract(
  version: FunctionVersion,
  requested?: ContractName,
  previous?: ContractName,
): ContractName {
  const kind = version.world ?? "module";
  const fits = CONTRACTS_FOR[kind];
  if (requested !== undefined) {
    if (!fits.includes(requested))
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `contract: "${requested}" cannot run ${kind === "module" ? "a preview1 module" : `a ${kind} component`} (version ${version.version}); use ${fits.map((c) => `"${c}"`).join(" or ")}`,
      );
    return requested;
  }
  if (previous !== undefined && fits.includes(previous)) return previous;
  return fits[0];
}

/** The number the next version of `fn` gets (never reused, even after a rollback). */
export function nextVersionNumber(fn: FunctionRecord): number {
  return Math.max(...fn.versions.map((v) => v.version)) + 1;
}

/** The stored function, or NOT_FOUND naming it (`field` names the input that named it, if any). */
export async function functionOr404(store: Store, name: string, field?: string): Promise<FunctionRecord> {
  const fn = await store.get("function", name);
  if (!fn) throw new WasmletError("NOT_FOUND", `${field ? `${field}: ` : ""}function "${name}" not found`);
  return fn;
}

/**
 * Tells the runtime a function's serving version changed (prepare it before its first request). The function is
 * stored either way and would be prepared on its first request: a failed warm-up is logged, never the caller's
 * error.
 */
export async function announceDeploy(deps: ApiDeps, fn: FunctionRecord): Promise<void> {
  if (!deps.onDeploy) return;
  try {
    await deps.onDeploy(fn);
  } catch (e) {
    apiLog(deps)(
      `wasmlet api: preparing function "${fn.name}" failed: ${e instanceof Error ? e.message : e}`,
    );
  }
}

/** The API's logger: the injected one, or standard error. */
export function apiLog(deps: ApiDeps): (line: string) => void {
  return deps.log ?? ((line: string) => console.error(line));
}
