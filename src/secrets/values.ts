import {
  type FunctionRecord,
  type FunctionValues,
  VALUE_DIRS,
  type ValueKind,
  valueUses,
  WasmletError,
} from "../core/index.js";
import type { SecretRecord, Store } from "../store/index.js";
import type { SecretKey } from "./crypto.js";

const utf8 = new TextEncoder();

/** What authenticates a secret's ciphertext: its name, so a ciphertext copied onto another secret never opens. */
function secretContext(name: string): string {
  return `secret "${name}"`;
}

/** The stored form of a secret's values: key names in clear, values sealed under `key`. */
export function sealSecret(
  key: SecretKey,
  name: string,
  data: Record<string, string>,
): Pick<SecretRecord, "keys" | "sealed"> {
  return {
    keys: Object.keys(data).sort(),
    sealed: key.seal(Buffer.from(JSON.stringify(data)), secretContext(name)),
  };
}

/** A stored secret's values (throws INTERNAL naming the secret when the key cannot open them). */
export function openSecret(key: SecretKey, record: SecretRecord): Record<string, string> {
  return JSON.parse(key.open(record.sealed, secretContext(record.name)).toString("utf8")) as Record<
    string,
    string
  >;
}

type ValueSet = ReadonlyMap<string, string>;

/**
 * The data plane's view of secrets and configs: answers an invocation's FunctionValues from memory, and forgets
 * a set as soon as the store's change feed reports a change of it (in-process writes synchronously, others at the
 * feed's poll), so an update reaches the next invocation without a redeploy. A process without a key (`key`
 * absent) fails the invocations of functions that mount secrets.
 */
export class ValueResolver {
  /** Decrypted sets by `kind/name`. */
  readonly #sets = new Map<string, ValueSet>();
  /** Per function: the record it was resolved for, and the result. */
  readonly #resolved = new Map<string, { fn: FunctionRecord; values: FunctionValues }>();
  /** Bumped on every change of a set: a load that started before it is not cached. */
  #generation = 0;
  #unwatch: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly key: SecretKey | undefined,
  ) {}

  /** Follows the change feed; call once before the first resolve. */
  start(): void {
    this.#unwatch ??= this.store.watch((c) => {
      if (c.kind === "secret" || c.kind === "config") {
        this.#generation++;
        this.#sets.delete(`${c.kind}/${c.name}`);
        this.#resolved.clear();
      } else if (c.kind === "function") {
        this.#resolved.delete(c.name);
      }
    });
  }

  stop(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  /**
   * What an invocation of `fn` gets; synchronous when nothing changed since the last one. Rejects with
   * FUNCTION_FAILED naming a missing secret, config or key (never a value).
   */
  resolve(fn: FunctionRecord): FunctionValues | Promise<FunctionValues> {
    const hit = this.#resolved.get(fn.name);
    // The router hands the same record every time; triggers and the API read it anew (same updatedAt).
    if (hit !== undefined && (hit.fn === fn || hit.fn.updatedAt === fn.updatedAt)) return hit.values;
    return this.#load(fn);
  }

  async #load(fn: FunctionRecord): Promise<FunctionValues> {
    const generation = this.#generation;
    const uses = valueUses(fn);
    const sets = new Map<string, ValueSet>();
    for (const kind of ["secret", "config"] as const)
      for (const name of uses[kind]) sets.set(`${kind}/${name}`, await this.#set(fn, kind, name, generation));
    const env = { ...fn.env };
    for (const [variable, ref] of Object.entries(fn.envFrom ?? {})) {
      const value = sets.get(`${ref.kind}/${ref.name}`)?.get(ref.key);
      if (value === undefined)
        throw new WasmletError(
          "FUNCTION_FAILED",
          `function ${fn.name}: ${ref.kind} "${ref.name}" has no key "${ref.key}" (environment variable ${variable})`,
        );
      env[variable] = value;
    }
    const mounts = new Map<string, ReadonlyMap<string, Uint8Array>>();
    const config: [string, string][] = [];
    for (const kind of ["config", "secret"] as const)
      for (const name of (kind === "secret" ? fn.secrets : fn.configs) ?? []) {
        const set = sets.get(`${kind}/${name}`) as ValueSet;
        const files = new Map<string, Uint8Array>();
        for (const [k, v] of set) {
          files.set(k, utf8.encode(v));
          config.push([`${name}/${k}`, v]);
        }
        mounts.set(`${VALUE_DIRS[kind]}/${name}`, files);
      }
    const values: FunctionValues = { fn: { ...fn, env }, mounts, config };
    if (generation === this.#generation) this.#resolved.set(fn.name, { fn, values });
    return values;
  }

  async #set(fn: FunctionRecord, kind: ValueKind, name: string, generation: number): Promise<ValueSet> {
    const id = `${kind}/${name}`;
    const cached = this.#sets.get(id);
    if (cached !== undefined) return cached;
    const record = await this.store.get(kind, name);
    if (record === undefined)
      throw new WasmletError("FUNCTION_FAILED", `function ${fn.name}: ${kind} "${name}" not found`);
    let set: ValueSet;
    if (kind === "config") set = new Map(Object.entries((record as { data: Record<string, string> }).data));
    else {
      if (this.key === undefined)
        throw new WasmletError("FUNCTION_FAILED", `function ${fn.name}: this server has no secret key`);
      set = new Map(Object.entries(openSecret(this.key, record as SecretRecord)));
    }
    if (generation === this.#generation) this.#sets.set(id, set);
    return set;
  }
}
