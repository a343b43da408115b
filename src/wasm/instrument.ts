import { WasmletError } from "../core/index.js";
import { invalid, lebLength, Reader, Writer } from "./bytes.js";
import { inspect, type ModuleInfo, RESERVED_EXPORT_PREFIX, skipLocals } from "./inspect.js";
import { ExprScan, PATCH_FUNC, PATCH_GROW, PATCH_KINDS, scanExpr } from "./instructions.js";
import { type ParsedModule, parseModule, SECTION, SECTION_RANK, type Section } from "./module.js";
import { writeNameSection } from "./name-section.js";
import { scanElements, scanTables } from "./segments.js";

/** Export name of the fuel counter global the instrumented code decrements. */
export const FUEL_EXPORT = `${RESERVED_EXPORT_PREFIX}fuel` as const;
/** The import the instrumented code calls when fuel runs out: `[] -> []`, refills fuel or throws. */
export const DEADLINE_IMPORT = { module: "wasmlet", name: "deadline" } as const;
/**
 * Every `memory.grow` becomes a call to this import, `[i32] -> [i32]` with memory.grow's meaning, so the host
 * can tell a guest over its memory cap (a clear failure) from a guest that merely got -1.
 */
export const MEMORY_GROW_IMPORT = { module: "wasmlet", name: "memory_grow" } as const;
/** Export name of the memory, for modules that do not export it themselves. */
export const MEMORY_EXPORT = `${RESERVED_EXPORT_PREFIX}memory` as const;
/** Functions the rewrite imports, right after the module's own function imports. */
const ADDED_IMPORTS = 2;
/** Prefix of the exports added for mutable globals the module does not export itself. */
export const GLOBAL_EXPORT_PREFIX = `${RESERVED_EXPORT_PREFIX}global_` as const;
/** Largest memory a 32-bit wasm memory can have, in 64 KiB pages. */
export const MAX_PAGES = 65536;

export interface InstrumentOptions {
  /** Cap on every defined memory, in 64 KiB pages (0-65536); `memory.grow` past it returns -1. */
  maxMemoryPages: number;
  /**
   * False skips V8's validation of the input (~120 ms for a 30 MB module), for bytes that passed
   * `inspectModule` already: the rewritten module is validated anyway when it is compiled. Default true.
   */
  validate?: boolean;
}

/** A module rewritten so the host can bound and reset its instances. */
export interface Instrumented {
  /** The rewritten binary; valid wherever the input was, importing `wasmlet.deadline` besides WASI. */
  bytes: Uint8Array;
  /** What `inspectModule` reported for the input (before the rewrite). */
  info: ModuleInfo;
  /**
   * Export name of the mutable i32 fuel global (initially 0); every function entry and loop iteration
   * decrements it and calls `wasmlet.deadline` when it drops below 0. During a start function the export is
   * not reachable yet, so the deadline is then called at every check until the host can refill it.
   */
  fuelExport: typeof FUEL_EXPORT;
  /** Export names of all mutable globals of the input, in global index order (the fuel global excluded). */
  globalExports: string[];
}

/**
 * Validates (as `inspectModule`) and rewrites a WASI command: caps its memory, adds fuel checks at every
 * function entry and loop head that call `wasmlet.deadline` when fuel runs out, and exports every
 * mutable global. Called once per module digest when the runtime prepares it; linear in the module size.
 */
export function instrumentModule(bytes: Uint8Array, opts: InstrumentOptions): Instrumented {
  const { maxMemoryPages } = opts;
  if (!Number.isInteger(maxMemoryPages) || maxMemoryPages < 0 || maxMemoryPages > MAX_PAGES)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `maxMemoryPages: ${maxMemoryPages} is not a page count between 0 and ${MAX_PAGES}`,
    );
  let out: ReturnType<typeof rewriteModule> | undefined;
  // The rewrite walks every instruction, and finds the reset blockers on the way (one walk instead of two).
  const { info } = inspect(bytes, {
    validate: opts.validate ?? true,
    codeBlockers: (module) => {
      out = rewriteModule(module, maxMemoryPages);
      return out.blockers;
    },
  });
  const { bytes: rewritten, globalExports } = out as NonNullable<typeof out>;
  return { bytes: rewritten, info, fuelExport: FUEL_EXPORT, globalExports };
}

/**
 * Rewrites one core module of a component as `instrumentModule` does a WASI command (memories capped, fuel checks
 * calling `wasmlet.deadline`, `memory.grow` through `wasmlet.memory_grow`, mutable globals exported), without
 * checking its imports: those are the canonical ABI's, wired by jco's glue. Lets a component run where a runaway
 * must stop by itself (the request thread), not only on a thread that can be terminated.
 */
export function instrumentCoreModule(
  bytes: Uint8Array,
  opts: InstrumentOptions,
): { bytes: Uint8Array; fuelExport: typeof FUEL_EXPORT; globalExports: string[] } {
  const out = rewriteModule(parseModule(bytes), opts.maxMemoryPages);
  return { bytes: out.bytes, fuelExport: FUEL_EXPORT, globalExports: out.globalExports };
}

interface Rewrite {
  m: ParsedModule;
  src: Uint8Array;
  w: Writer;
  scan: ExprScan;
  /** Type index of `[] -> []` for the deadline import (appended to the type section when absent). */
  deadlineType: number;
  /** Type index of `[i32] -> [i32]` for the memory_grow import (always appended to the type section). */
  growType: number;
  fuelGlobal: number;
  fuelCheck: Uint8Array;
  /** The reset blockers found in the code so far (ExprScan.blockers ORed). */
  blockers: number;
}

/**
 * The rewrite itself, on an already parsed module (exported for tests of instructions V8 cannot validate).
 * Does not validate its input.
 */
export function rewriteModule(
  m: ParsedModule,
  maxMemoryPages: number,
): { bytes: Uint8Array; globalExports: string[]; blockers: number } {
  const src = m.bytes;
  const fuelGlobal = m.globals.length;
  const ctx: Rewrite = {
    m,
    src,
    w: new Writer(src.length + (src.length >> 2) + 256),
    scan: new ExprScan(),
    deadlineType: m.emptyFuncType >= 0 ? m.emptyFuncType : m.typeCount,
    growType: m.typeCount + (m.emptyFuncType >= 0 ? 0 : 1),
    fuelGlobal,
    fuelCheck: fuelCheckBytes(fuelGlobal, m.importedFuncs),
    blockers: 0,
  };
  const { exportsToAdd, globalExports } = planExports(m, fuelGlobal);
  const w = ctx.w;
  w.bytes(src, 0, 8);
  const missing = [SECTION.type, SECTION.import, SECTION.global, SECTION.export].filter(
    (id) => !m.sections.some((s) => s.id === id),
  );
  const emit = (id: number, s?: Section): void => {
    if (id === SECTION.custom) {
      emitCustom(ctx, s!);
      return;
    }
    w.byte(id);
    const mark = w.beginSized();
    emitSection(ctx, id, s, exportsToAdd, maxMemoryPages);
    w.endSized(mark);
  };
  for (const s of m.sections) {
    while (s.id !== SECTION.custom && missing.length > 0 && SECTION_RANK[missing[0]] < SECTION_RANK[s.id])
      emit(missing.shift()!);
    emit(s.id, s);
  }
  for (const id of missing) emit(id);
  return { bytes: w.finish(), globalExports, blockers: ctx.blockers };
}

function emitSection(
  ctx: Rewrite,
  id: number,
  s: Section | undefined,
  exportsToAdd: NewExport[],
  cap: number,
) {
  const { m, w, src } = ctx;
  const r = s ? new Reader(src, s.start, s.end) : undefined;
  switch (id) {
    case SECTION.type: {
      const count = r ? r.u32() : 0;
      w.u32(count + (m.emptyFuncType >= 0 ? 0 : 1) + 1);
      if (r) w.bytes(src, r.pos, r.end);
      if (m.emptyFuncType < 0) w.bytes(new Uint8Array([0x60, 0, 0]));
      w.bytes(new Uint8Array([0x60, 0x01, 0x7f, 0x01, 0x7f]));
      return;
    }
    case SECTION.import: {
      w.u32((r ? r.u32() : 0) + ADDED_IMPORTS);
      if (r) w.bytes(src, r.pos, r.end);
      w.name(DEADLINE_IMPORT.module);
      w.name(DEADLINE_IMPORT.name);
      w.byte(0x00);
      w.u32(ctx.deadlineType);
      w.name(MEMORY_GROW_IMPORT.module);
      w.name(MEMORY_GROW_IMPORT.name);
      w.byte(0x00);
      w.u32(ctx.growType);
      return;
    }
    case SECTION.memory:
      return emitMemories(ctx, r!, cap);
    case SECTION.global: {
      const count = r ? r.u32() : 0;
      w.u32(count + 1);
      if (r) {
        ctx.scan.reset();
        for (let i = 0; i < count; i++) {
          r.valType();
          r.u8();
          scanExpr(r, ctx.scan);
        }
        emitPatched(ctx, s!.start + lebLength(src, s!.start), r.end, ctx.scan.patches);
      }
      w.bytes(new Uint8Array([0x7f, 0x01, 0x41, 0x00, 0x0b])); // (mut i32) (i32.const 0)
      return;
    }
    case SECTION.export:
      return emitExports(ctx, r, exportsToAdd);
    case SECTION.start:
      w.u32(renumber(m, r!.u32()));
      return;
    case SECTION.table:
    case SECTION.element:
      ctx.scan.reset();
      if (id === SECTION.table) scanTables(r!, ctx.scan);
      else scanElements(r!, ctx.scan);
      emitPatched(ctx, s!.start, s!.end, ctx.scan.patches);
      return;
    case SECTION.code:
      return emitCode(ctx, r!);
    default:
      w.bytes(src, s!.start, s!.end);
  }
}

function emitCustom(ctx: Rewrite, s: Section): void {
  // Function names are renumbered, not dropped: V8 puts them in stack traces users read in their logs.
  if (s.name === "name") writeNameSection(ctx.w, ctx.src, s, (i) => renumber(ctx.m, i));
  else ctx.w.bytes(ctx.src, s.headerStart, s.end);
}

function renumber(m: ParsedModule, funcIndex: number): number {
  return funcIndex < m.importedFuncs ? funcIndex : funcIndex + ADDED_IMPORTS;
}

/**
 * `global.get $fuel; i32.const 1; i32.sub; global.set $fuel; global.get $fuel; i32.const 0; i32.lt_s;
 * if; call $deadline; end` (wasm has no global.tee, so the decremented value is read back).
 */
function fuelCheckBytes(fuelGlobal: number, deadlineFunc: number): Uint8Array {
  const w = new Writer(32);
  w.byte(0x23);
  w.u32(fuelGlobal);
  w.bytes(new Uint8Array([0x41, 0x01, 0x6b, 0x24]));
  w.u32(fuelGlobal);
  w.byte(0x23);
  w.u32(fuelGlobal);
  w.bytes(new Uint8Array([0x41, 0x00, 0x48, 0x04, 0x40, 0x10]));
  w.u32(deadlineFunc);
  w.byte(0x0b);
  return w.finish();
}

/** Copies src[start, end) renumbering the function indices and inserting fuel checks listed in `patches`. */
function emitPatched(ctx: Rewrite, start: number, end: number, patches: readonly number[]): void {
  const { w, src, m } = ctx;
  let prev = start;
  for (let i = 0; i < patches.length; i++) {
    const kind = patches[i] % PATCH_KINDS;
    const pos = (patches[i] - kind) / PATCH_KINDS;
    w.bytes(src, prev, pos);
    if (kind === PATCH_FUNC) {
      const len = lebLength(src, pos);
      w.u32(renumber(m, readU32At(src, pos, len)), len);
      prev = pos + len;
    } else if (kind === PATCH_GROW) {
      // memory.grow <memidx> -> call $memory_grow (the memory index is 0: one memory only).
      w.byte(0x10);
      w.u32(m.importedFuncs + 1);
      prev = pos + 1 + lebLength(src, pos + 1);
    } else {
      w.bytes(ctx.fuelCheck);
      prev = pos;
    }
  }
  w.bytes(src, prev, end);
}

function readU32At(bytes: Uint8Array, pos: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len && i < 5; i++) v |= (bytes[pos + i] & 0x7f) << (7 * i);
  return v >>> 0;
}

function emitCode(ctx: Rewrite, r: Reader): void {
  const { w, src, scan } = ctx;
  const count = r.u32();
  w.u32(count);
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const bodyStart = r.pos;
    const bodyEnd = bodyStart + size;
    skipLocals(r);
    const localsEnd = r.pos;
    scan.reset();
    scanExpr(r, scan);
    if (r.pos !== bodyEnd) throw invalid(`function body ${i} ends at byte offset ${r.pos}, not ${bodyEnd}`);
    ctx.blockers |= scan.blockers;
    const mark = w.beginSized();
    w.bytes(src, bodyStart, localsEnd);
    w.bytes(ctx.fuelCheck);
    emitPatched(ctx, localsEnd, bodyEnd, scan.patches);
    w.endSized(mark);
  }
}

function emitMemories(ctx: Rewrite, r: Reader, cap: number): void {
  const { w, m } = ctx;
  const count = r.u32();
  w.u32(count);
  const defined = m.memories.filter((mem) => !mem.imported);
  for (const mem of defined) {
    if (mem.min > cap)
      throw invalid(
        `module needs ${mem.min / 16} MiB of memory at start (${mem.min} pages) but its limit is ${cap / 16} MiB`,
      );
    const max = Math.min(mem.max ?? cap, cap);
    w.byte(
      0x01 | (mem.shared ? 0x02 : 0) | (mem.is64 ? 0x04 : 0) | (mem.pageSizeLog2 !== undefined ? 0x08 : 0),
    );
    w.u64(mem.min);
    w.u64(max);
    if (mem.pageSizeLog2 !== undefined) w.u32(mem.pageSizeLog2);
  }
}

interface NewExport {
  name: string;
  kind: number;
  index: number;
}

function planExports(
  m: ParsedModule,
  fuelGlobal: number,
): { exportsToAdd: NewExport[]; globalExports: string[] } {
  // No clash with the module's own exports: inspect refuses names under RESERVED_EXPORT_PREFIX.
  const exportsToAdd: NewExport[] = [{ name: FUEL_EXPORT, kind: 3, index: fuelGlobal }];
  // The host's memory_grow needs the memory object: export it when the module does not.
  const firstDefined = m.memories.findIndex((mem) => !mem.imported);
  if (firstDefined >= 0 && !m.exports.some((e) => e.kind === "memory" && e.index === firstDefined))
    exportsToAdd.push({ name: MEMORY_EXPORT, kind: 2, index: firstDefined });
  const globalExports: string[] = [];
  m.globals.forEach((mutable, index) => {
    if (!mutable) return;
    const existing = m.exports.find((e) => e.kind === "global" && e.index === index);
    if (existing) globalExports.push(existing.name);
    else {
      const name = `${GLOBAL_EXPORT_PREFIX}${index}`;
      exportsToAdd.push({ name, kind: 3, index });
      globalExports.push(name);
    }
  });
  return { exportsToAdd, globalExports };
}

function emitExports(ctx: Rewrite, r: Reader | undefined, exportsToAdd: NewExport[]): void {
  const { w, src, m } = ctx;
  const count = r ? r.u32() : 0;
  w.u32(count + exportsToAdd.length);
  for (let i = 0; i < count && r; i++) {
    const nameStart = r.pos;
    r.skipName();
    w.bytes(src, nameStart, r.pos);
    const kind = r.u8();
    w.byte(kind);
    const index = r.u32();
    w.u32(kind === 0 ? renumber(m, index) : index);
  }
  for (const e of exportsToAdd) {
    w.name(e.name);
    w.byte(e.kind);
    w.u32(e.index);
  }
}
