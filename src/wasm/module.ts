import { invalid, Reader } from "./bytes.js";
import { ExprScan, scanExpr } from "./instructions.js";

export type ExternKind = "function" | "table" | "memory" | "global" | "tag";
export const EXTERN_KINDS: readonly ExternKind[] = ["function", "table", "memory", "global", "tag"];

export const SECTION = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Position of each known section in the order the binary format requires (tag sits before global). */
export const SECTION_RANK: Readonly<Record<number, number>> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

/** One section: `start`/`end` delimit its contents, `headerStart` its id byte. */
export interface Section {
  /** Section id (0 = custom). */
  id: number;
  /** Offset of the id byte: a section is copied verbatim from here to `end`. */
  headerStart: number;
  /** Offset of the first content byte (after the size). */
  start: number;
  /** Offset just past the contents. */
  end: number;
  /** Name of a custom section. */
  name?: string;
}

export interface Limits {
  /** Initial size, in pages (memories) or elements (tables). */
  min: number;
  /** Declared maximum; absent when the module declares none. */
  max?: number;
  /** memory64 / table64: sizes are u64 LEB128s. */
  is64: boolean;
  /** Shared memory (threads). */
  shared: boolean;
  /** log2 of a custom page size, when the module declares one. */
  pageSizeLog2?: number;
}

/** A function type: the first byte of each value type (0x7f i32, 0x7e i64, ...; see `valTypeName`). */
export interface FuncType {
  params: number[];
  results: number[];
}

const VAL_TYPE_NAMES: Readonly<Record<number, string>> = {
  127: "i32",
  126: "i64",
  125: "f32",
  124: "f64",
  123: "v128",
  112: "funcref",
  111: "externref",
};

/** The text-format name of a value type's first byte ("ref" for the typed references of later proposals). */
export function valTypeName(byte: number): string {
  return VAL_TYPE_NAMES[byte] ?? "ref";
}

export interface ParsedExport {
  /** The export name, decoded as UTF-8. */
  name: string;
  kind: ExternKind;
  /** Index in the space of `kind` (imports first), before any renumbering. */
  index: number;
}

/** The parts of a module's structure that inspection and instrumentation need. */
export interface ParsedModule {
  /** The binary this was parsed from; every offset refers to it. */
  bytes: Uint8Array;
  /** Every section in binary order, custom ones included. */
  sections: Section[];
  /** Every import in declaration order; a function import also has the index of its type in `types`. */
  imports: { module: string; name: string; kind: ExternKind; type?: number }[];
  /** Number of imported functions: defined functions' indices start here. */
  importedFuncs: number;
  /** Number of imported globals. */
  importedGlobals: number;
  /** Number of functions the module defines (function section). */
  definedFuncs: number;
  /** Every memory, imported ones first (index order). */
  memories: (Limits & { imported: boolean })[];
  /** Every table, imported ones first. */
  tables: { imported: boolean }[];
  /** Every global's mutability, imported ones first. */
  globals: boolean[];
  /** Every export in declaration order. */
  exports: ParsedExport[];
  /** Function index of the start section, when present. */
  start?: number;
  /** Number of entries of the type section. */
  typeCount: number;
  /** Every entry of the type section, in index order. */
  types: FuncType[];
  /** Index of an existing `[] -> []` function type, or -1. */
  emptyFuncType: number;
}

/** Splits the binary into sections and decodes the declarations (not the code). Assumes a validated module. */
export function parseModule(bytes: Uint8Array): ParsedModule {
  const m: ParsedModule = {
    bytes,
    sections: [],
    imports: [],
    importedFuncs: 0,
    importedGlobals: 0,
    definedFuncs: 0,
    memories: [],
    tables: [],
    globals: [],
    exports: [],
    typeCount: 0,
    types: [],
    emptyFuncType: -1,
  };
  const r = new Reader(bytes, 8);
  while (r.pos < bytes.length) {
    const headerStart = r.pos;
    const id = r.u8();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    const section: Section = { id, headerStart, start, end: start + size };
    const body = new Reader(bytes, start, start + size);
    if (id === SECTION.custom) section.name = body.name();
    else parseSection(m, id, body);
    m.sections.push(section);
  }
  return m;
}

function parseSection(m: ParsedModule, id: number, r: Reader): void {
  switch (id) {
    case SECTION.type:
      parseTypes(m, r);
      return;
    case SECTION.import:
      parseImports(m, r);
      return;
    case SECTION.function:
      m.definedFuncs = r.u32();
      return;
    case SECTION.table:
      for (let i = 0, n = r.u32(); i < n; i++) {
        let withInit = false;
        if (r.bytes[r.pos] === 0x40 && r.bytes[r.pos + 1] === 0x00) {
          r.skip(2); // table with an initializer expression
          withInit = true;
        }
        r.valType();
        readLimits(r);
        if (withInit) scanExpr(r, new ExprScan());
        m.tables.push({ imported: false });
      }
      return;
    case SECTION.memory:
      for (let i = 0, n = r.u32(); i < n; i++) m.memories.push({ ...readLimits(r), imported: false });
      return;
    case SECTION.global: {
      const scan = new ExprScan();
      for (let i = 0, n = r.u32(); i < n; i++) {
        r.valType();
        m.globals.push(r.u8() === 1);
        scanExpr(r, scan);
      }
      return;
    }
    case SECTION.export:
      for (let i = 0, n = r.u32(); i < n; i++) {
        const name = r.name();
        const kind = externKind(r.u8(), r.pos - 1);
        m.exports.push({ name, kind, index: r.u32() });
      }
      return;
    case SECTION.start:
      m.start = r.u32();
      return;
  }
}

function parseTypes(m: ParsedModule, r: Reader): void {
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const form = r.u8();
    if (form !== 0x60)
      throw invalid(`type definition form 0x${form.toString(16)} (GC types) is not supported`);
    const params: number[] = [];
    for (let p = 0, np = r.u32(); p < np; p++) params.push(r.valType());
    const results: number[] = [];
    for (let p = 0, nr = r.u32(); p < nr; p++) results.push(r.valType());
    if (params.length === 0 && results.length === 0 && m.emptyFuncType < 0) m.emptyFuncType = i;
    m.types.push({ params, results });
  }
  m.typeCount = n;
}

function parseImports(m: ParsedModule, r: Reader): void {
  for (let i = 0, n = r.u32(); i < n; i++) {
    const module = r.name();
    const name = r.name();
    const kind = externKind(r.u8(), r.pos - 1);
    let type: number | undefined;
    switch (kind) {
      case "function":
        type = r.u32();
        m.importedFuncs++;
        break;
      case "table":
        r.valType();
        readLimits(r);
        m.tables.push({ imported: true });
        break;
      case "memory":
        m.memories.push({ ...readLimits(r), imported: true });
        break;
      case "global":
        r.valType();
        m.globals.push(r.u8() === 1);
        m.importedGlobals++;
        break;
      case "tag":
        r.u8();
        r.u32();
        break;
    }
    m.imports.push(type === undefined ? { module, name, kind } : { module, name, kind, type });
  }
}

/** Limits of a table or memory: flags bit 0 = has max, 1 = shared, 2 = 64-bit, 3 = custom page size. */
export function readLimits(r: Reader): Limits {
  const flags = r.u8();
  const is64 = (flags & 0x04) !== 0;
  const limits: Limits = { min: is64 ? r.u64() : r.u32(), is64, shared: (flags & 0x02) !== 0 };
  if (flags & 0x01) limits.max = is64 ? r.u64() : r.u32();
  if (flags & 0x08) limits.pageSizeLog2 = r.u32();
  return limits;
}

export function externKind(byte: number, at: number): ExternKind {
  const kind = EXTERN_KINDS[byte];
  if (kind === undefined)
    throw invalid(`unknown import/export kind 0x${byte.toString(16)} at byte offset ${at}`);
  return kind;
}
