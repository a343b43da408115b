import { WasmletError } from "../core/index.js";
import { Reader } from "./bytes.js";
import { type ComponentInfo, inspectComponent, isComponent } from "./component.js";
import { BLOCKER, BLOCKER_REASONS, ExprScan, scanExpr, TABLE_WRITES } from "./instructions.js";
import { type ExternKind, type ParsedModule, parseModule, SECTION, valTypeName } from "./module.js";
import { formatSignature, wasiSignature } from "./wasi-preview1.js";

/** The only import module a WASI command may use. */
export const WASI_MODULE = "wasi_snapshot_preview1";
/** Export names the instrumentation adds (fuel, memory, mutable globals) all start with this: a module may not. */
export const RESERVED_EXPORT_PREFIX = "__wasmlet_";
const MAX_LISTED = 5;

/** What an accepted WASI command declares, and whether its instances can be reset cheaply. */
export interface ModuleInfo {
  /** Every import in declaration order; after `inspectModule` all are `wasi_snapshot_preview1` functions with their preview1 signatures. */
  imports: { module: string; name: string; kind: ExternKind }[];
  /** Every export in declaration order; always includes function `_start` and memory `memory`. */
  exports: { name: string; kind: ExternKind }[];
  /** Limits of the first memory, in 64 KiB pages; `maxPages` is absent when the module declares no maximum. */
  memory: { initialPages: number; maxPages?: number };
  /** Number of mutable globals (the stack pointer, typically): what a reset must restore besides memory. */
  mutableGlobals: number;
  /** True when the module has a start section (a function that runs during instantiation). */
  hasStartSection: boolean;
  /** True when restoring linear memory and mutable globals returns an instance to its post-instantiation state. */
  resettable: boolean;
  /** Why `resettable` is false, one human-readable reason each; empty when it is true. */
  resetBlockers: string[];
  /** Set when the binary is a component (then imports, exports and memory describe nothing: see its fields). */
  component?: ComponentInfo;
}

/**
 * Checks that `bytes` is a core WebAssembly module acceptable as a WASI command, or a component of a world Wasmlet
 * serves (`component` set, see inspectComponent), and describes it.
 * Called on upload and before instrumentation (`validate: false` leaves V8's validation to a caller that compiles
 * the bytes anyway: compileCapped); throws WasmletError INVALID_MODULE with a message that names
 * every problem found (wrong binary, foreign imports, WASI functions preview1 lacks or imported with another
 * signature, missing `_start`/`memory`, exports under the reserved `__wasmlet_` prefix).
 */
export function inspectModule(
  bytes: Uint8Array,
  opts: { resetBlockers?: boolean; validate?: boolean } = {},
): ModuleInfo {
  if (isComponent(bytes)) {
    const component = inspectComponent(bytes);
    return {
      imports: [],
      exports: [],
      memory: { initialPages: 0 },
      mutableGlobals: 0,
      hasStartSection: false,
      resettable: false,
      resetBlockers: ["a component gets a fresh instance per run"],
      component,
    };
  }
  const validate = opts.validate;
  if (opts.resetBlockers === false)
    return inspect(bytes, { validate, codeBlockers: () => NOT_ANALYSED }).info;
  return inspect(bytes, { validate }).info;
}

/**
 * The code's reset blockers when `inspectModule` is told not to look for them (a walk over every instruction:
 * ~0.35 s of the API's thread for a 30 MB module, for a figure only the runtime's rewrite needs, which finds it
 * itself): the module is then reported not resettable, "not analysed".
 */
const NOT_ANALYSED = BLOCKER.notAnalysed;

/**
 * `inspectModule`, also returning the parsed structure so instrumentation does not parse twice. `codeBlockers`,
 * called with the parsed module once it passed the checks, returns the reset blockers of its code
 * (`ExprScan.blockers` of every body ORed): it spares a second walk over the code to a caller that walks it anyway; `validate: false` skips V8's validation, for bytes that passed it before.
 */
export function inspect(
  bytes: Uint8Array,
  opts: { validate?: boolean; codeBlockers?: (m: ParsedModule) => number } = {},
): { info: ModuleInfo; module: ParsedModule } {
  checkBinary(bytes, opts.validate ?? true);
  const module = parseModule(bytes);
  checkCommand(module);
  const resetBlockers = findResetBlockers(module, opts.codeBlockers);
  const memory = module.memories[0];
  const info: ModuleInfo = {
    imports: module.imports.map(({ module, name, kind }) => ({ module, name, kind })),
    exports: module.exports.map(({ name, kind }) => ({ name, kind })),
    memory:
      memory.max === undefined
        ? { initialPages: memory.min }
        : { initialPages: memory.min, maxPages: memory.max },
    mutableGlobals: module.globals.filter(Boolean).length,
    hasStartSection: module.start !== undefined,
    resettable: resetBlockers.length === 0,
    resetBlockers,
  };
  return { info, module };
}

function checkBinary(bytes: Uint8Array, validate: boolean): void {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    throw new WasmletError(
      "INVALID_MODULE",
      "not a WebAssembly module: it does not start with the wasm magic number (\\0asm)",
    );
  const version = bytes[4] | (bytes[5] << 8);
  const layer = bytes[6] | (bytes[7] << 8);
  if (layer === 1)
    throw new WasmletError(
      "INVALID_MODULE",
      `the binary is a WebAssembly component (version 0x${version.toString(16)}, layer 1); instrument its core modules instead`,
    );
  if (validate && !WebAssembly.validate(bytes as BufferSource)) {
    let reason = `binary version ${version}`;
    try {
      new WebAssembly.Module(bytes as BufferSource);
    } catch (e) {
      reason = e instanceof Error ? e.message.replace(/^WebAssembly\.Module\(\): /, "") : String(e);
    }
    throw new WasmletError("INVALID_MODULE", `not a WebAssembly module: the binary is invalid (${reason})`);
  }
}

/** "a, b, c and 2 more": at most MAX_LISTED items. */
function listed(items: string[]): string {
  const more = items.length > MAX_LISTED ? ` and ${items.length - MAX_LISTED} more` : "";
  return `${items.slice(0, MAX_LISTED).join(", ")}${more}`;
}

function checkCommand(m: ParsedModule): void {
  const problems: string[] = [];
  const foreign = m.imports.filter((i) => i.module !== WASI_MODULE || i.kind !== "function");
  if (foreign.length > 0)
    problems.push(
      `module imports ${listed(foreign.map((i) => `"${i.module}"."${i.name}" (${i.kind})`))}; only ${WASI_MODULE} functions are available`,
    );
  problems.push(...wasiImportProblems(m));
  for (const [name, kind, role] of [
    ["_start", "function", "the entry point of a WASI command"],
    ["memory", "memory", "WASI passes data through it"],
  ] as const) {
    const found = m.exports.find((e) => e.name === name);
    if (!found) problems.push(`module does not export a ${kind} "${name}" (${role})`);
    else if (found.kind !== kind) problems.push(`module exports "${name}" as a ${found.kind}, not a ${kind}`);
  }
  const reserved = m.exports.filter((e) => e.name.startsWith(RESERVED_EXPORT_PREFIX));
  if (reserved.length > 0)
    problems.push(
      `module exports ${listed(reserved.map((e) => `"${e.name}"`))}; names starting with ${RESERVED_EXPORT_PREFIX} are reserved for the runtime`,
    );
  if (problems.length > 0) throw new WasmletError("INVALID_MODULE", problems.join("; "));
}

/** Function imports of WASI_MODULE that preview1 does not define, or defines with another signature. */
function wasiImportProblems(m: ParsedModule): string[] {
  const unknown: string[] = [];
  const mistyped: string[] = [];
  for (const i of m.imports) {
    if (i.module !== WASI_MODULE || i.type === undefined) continue;
    const expected = wasiSignature(i.name);
    if (!expected) {
      unknown.push(`"${i.name}"`);
      continue;
    }
    const t = m.types[i.type];
    const actual = { params: t.params.map(valTypeName), results: t.results.map(valTypeName) };
    const want = formatSignature(expected);
    const got = formatSignature(actual);
    if (got !== want)
      mistyped.push(
        `module imports ${WASI_MODULE} "${i.name}" as ${got}, but WASI preview1 defines it as ${want}`,
      );
  }
  const problems: string[] = [];
  if (unknown.length > 0)
    problems.push(
      `module imports ${WASI_MODULE} function${unknown.length > 1 ? "s" : ""} ${listed(unknown)}, which WASI preview1 does not define`,
    );
  problems.push(...mistyped.slice(0, MAX_LISTED));
  if (mistyped.length > MAX_LISTED)
    problems.push(`${mistyped.length - MAX_LISTED} more ${WASI_MODULE} imports have a wrong signature`);
  return problems;
}

/**
 * Why restoring a core module's memory and mutable globals would not return its instance to the state right after
 * instantiation (table writes, passive segments, several or 64-bit memories); empty when it would. For the core
 * modules of components, which are not WASI commands.
 */
export function coreResetBlockers(bytes: Uint8Array): string[] {
  return findResetBlockers(parseModule(bytes));
}

function findResetBlockers(m: ParsedModule, codeBlockers?: (m: ParsedModule) => number): string[] {
  const blockers: string[] = [];
  if (m.memories.length > 1) blockers.push(`has ${m.memories.length} memories (a reset restores only one)`);
  if (m.memories.some((mem) => mem.is64)) blockers.push("uses a 64-bit memory (memory64)");
  const bits = codeBlockers ? codeBlockers(m) : scanCodeBlockers(m);
  for (const [bit, reason] of BLOCKER_REASONS) if (bits & bit) blockers.push(reason);
  if (bits & TABLE_WRITES) {
    for (const e of m.exports)
      if (e.kind === "table") blockers.push(`exports table "${e.name}", which the code mutates`);
    for (const i of m.imports)
      if (i.kind === "table")
        blockers.push(`imports table "${i.module}"."${i.name}", which the code mutates`);
  }
  return blockers;
}

function scanCodeBlockers(m: ParsedModule): number {
  const code = m.sections.find((s) => s.id === SECTION.code);
  if (!code) return 0;
  const r = new Reader(m.bytes, code.start, code.end);
  const scan = new ExprScan();
  let bits = 0;
  for (let i = 0, n = r.u32(); i < n; i++) {
    const size = r.u32();
    const bodyEnd = r.pos + size;
    skipLocals(r);
    scan.reset();
    scanExpr(r, scan);
    bits |= scan.blockers;
    r.pos = bodyEnd;
  }
  return bits;
}

/** Skips a function body's local declarations (count, type pairs). */
export function skipLocals(r: Reader): void {
  for (let i = 0, n = r.u32(); i < n; i++) {
    r.u32();
    r.valType();
  }
}
