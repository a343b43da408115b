import { type ComponentWorldName, isComponentBinary as isComponent, WasmletError } from "../core/index.js";
import { invalid, Reader, Writer } from "./bytes.js";
import { parseModule, readLimits, SECTION, SECTION_RANK } from "./module.js";

/** The worlds Wasmlet serves, by the export that defines them. */
export const COMPONENT_WORLDS = {
  /** `wasi:http/proxy`: exports `wasi:http/incoming-handler`. */
  "wasi:http/proxy": "wasi:http/incoming-handler",
  /** `wasi:cli/command`: exports `wasi:cli/run`. */
  "wasi:cli/command": "wasi:cli/run",
} as const satisfies Record<ComponentWorldName, string>;
export type ComponentWorld = ComponentWorldName;

/** Interfaces a component may import: the WASI 0.2 interfaces the host implements (any 0.2.x version). */
const SUPPORTED_IMPORTS = [
  /^wasi:cli\/(environment|exit|stdin|stdout|stderr|terminal-input|terminal-output|terminal-stdin|terminal-stdout|terminal-stderr)$/,
  /^wasi:clocks\/(monotonic-clock|wall-clock)$/,
  /^wasi:random\/(random|insecure|insecure-seed)$/,
  /^wasi:io\/(error|poll|streams)$/,
  /^wasi:filesystem\/(types|preopens)$/,
  /^wasi:http\/(types|outgoing-handler)$/,
  /^wasi:config\/(store|runtime)$/,
];

/** What an accepted component declares. */
export interface ComponentInfo {
  world: ComponentWorld;
  /** Top-level import names, e.g. `wasi:cli/stdout@0.2.3`. */
  imports: string[];
  /** Top-level export names. */
  exports: string[];
}

const COMPONENT_SECTION = { import: 10, export: 11 } as const;
const VERSION_02 = /@0\.2\.\d+$/;
/** wasi:config (wasi-runtime-config) has only drafts and release candidates of 0.2.0. */
const CONFIG_VERSION = /^wasi:config\/(store|runtime)@0\.2\.0(-draft|-rc\.\d+|-rc-\d{4}-\d{2}-\d{2})?$/;

export { isComponentBinary as isComponent } from "../core/index.js";

/**
 * Checks that a component exports one of COMPONENT_WORLDS (0.2.0 through any newer 0.2.x) and imports only what
 * the host provides; throws WasmletError INVALID_MODULE naming every problem. Reads only the top-level import and
 * export sections: the full check is the transpilation at deploy.
 */
export function inspectComponent(bytes: Uint8Array): ComponentInfo {
  const { imports, exports } = readNames(bytes);
  const problems: string[] = [];
  const worlds = (Object.keys(COMPONENT_WORLDS) as ComponentWorld[]).filter((w) =>
    exports.some((e) => VERSION_02.test(e) && unversioned(e) === COMPONENT_WORLDS[w]),
  );
  if (worlds.length !== 1)
    problems.push(
      `component exports ${exports.length > 0 ? exports.join(", ") : "nothing"}; it must export exactly one of ${Object.values(COMPONENT_WORLDS).join(" or ")} (0.2.x)`,
    );
  const unsupported = imports.filter(
    (i) =>
      !(VERSION_02.test(i) || CONFIG_VERSION.test(i)) ||
      !SUPPORTED_IMPORTS.some((re) => re.test(unversioned(i))),
  );
  if (unsupported.length > 0)
    problems.push(
      `component imports ${unsupported.join(", ")}; available: wasi:cli, wasi:clocks, wasi:random, wasi:io, wasi:filesystem, wasi:http/types and wasi:http/outgoing-handler (0.2.x), wasi:config/store (0.2.0-draft)`,
    );
  if (problems.length > 0) throw new WasmletError("INVALID_MODULE", problems.join("; "));
  return { world: worlds[0], imports, exports };
}

function unversioned(name: string): string {
  const at = name.indexOf("@");
  return at < 0 ? name : name.slice(0, at);
}

function readNames(bytes: Uint8Array): { imports: string[]; exports: string[] } {
  if (!isComponent(bytes)) throw invalid("not a WebAssembly component");
  const imports: string[] = [];
  const exports: string[] = [];
  const r = new Reader(bytes, 8);
  while (r.pos < bytes.length) {
    const id = r.u8();
    const size = r.u32();
    const body = new Reader(bytes, r.pos, r.pos + size);
    r.skip(size);
    if (id !== COMPONENT_SECTION.import && id !== COMPONENT_SECTION.export) continue;
    const count = body.u32();
    for (let i = 0; i < count; i++) {
      const name = externName(body);
      if (id === COMPONENT_SECTION.import) {
        imports.push(name);
        externDesc(body);
      } else {
        exports.push(name);
        if (body.u8() === 0x00) body.u8(); // sort: a core sort takes a second byte
        body.u32();
        if (body.u8() === 0x01) externDesc(body);
      }
    }
  }
  return { imports, exports };
}

/** importname' / exportname': a discriminant, the name, and (0x02) a version suffix. */
function externName(r: Reader): string {
  const kind = r.u8();
  const name = r.name();
  if (kind === 0x02) r.name();
  else if (kind > 0x02) throw invalid(`unknown component import/export name form 0x${kind.toString(16)}`);
  return name;
}

function externDesc(r: Reader): void {
  const kind = r.u8();
  switch (kind) {
    case 0x00: // core module: 0x11 typeidx
      r.u8();
      r.u32();
      return;
    case 0x02: // value bound
    case 0x03: // type bound: 0x00 typeidx | 0x01 (sub resource)
      if (r.u8() === 0x00 || kind === 0x02) r.skipLeb();
      return;
    default:
      r.u32();
  }
}

/**
 * Caps every memory a core module defines at `maxPages` (64 KiB pages), keeping the rest of the binary as it is:
 * the component's core modules get the function's memory cap this way, so a growth past it fails in the guest.
 * Throws INVALID_MODULE when a memory's initial size is already over the cap.
 */
export function capMemories(bytes: Uint8Array, maxPages: number): Uint8Array {
  const r = new Reader(bytes, 8);
  // The memory sections rewritten, each [start, end) of the input it replaces; the rest is copied as it is, once
  // (a 30 MB module went through a Writer and a final slice: two copies, ~85 ms here under load).
  const replaced: { start: number; end: number; bytes: Uint8Array }[] = [];
  while (r.pos < bytes.length) {
    const headerStart = r.pos;
    const id = r.u8();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    if (id !== SECTION.memory) continue;
    replaced.push({
      start: headerStart,
      end: r.pos,
      bytes: cappedMemorySection(bytes, start, size, maxPages),
    });
  }
  let length = bytes.length;
  for (const p of replaced) length += p.bytes.length - (p.end - p.start);
  const out = new Uint8Array(length);
  let from = 0;
  let at = 0;
  for (const p of replaced) {
    out.set(bytes.subarray(from, p.start), at);
    at += p.start - from;
    out.set(p.bytes, at);
    at += p.bytes.length;
    from = p.end;
  }
  out.set(bytes.subarray(from), at);
  return out;
}

/**
 * The memory section whose contents are `bytes[start, start + size)`, rewritten (with its id and size) so that
 * every memory it defines has a maximum of at most `maxPages`; INVALID_MODULE when one needs more at start.
 */
export function cappedMemorySection(
  bytes: Uint8Array,
  start: number,
  size: number,
  maxPages: number,
): Uint8Array {
  const body = new Reader(bytes, start, start + size);
  const w = new Writer(size + 32);
  w.byte(SECTION.memory);
  const mark = w.beginSized();
  const count = body.u32();
  w.u32(count);
  for (let i = 0; i < count; i++) {
    const mem = readLimits(body);
    if (mem.min > maxPages)
      throw invalid(
        `a core module needs ${mem.min / 16} MiB of memory at start (${mem.min} pages) but the function's limit is ${maxPages / 16} MiB`,
      );
    w.byte(
      0x01 | (mem.shared ? 0x02 : 0) | (mem.is64 ? 0x04 : 0) | (mem.pageSizeLog2 !== undefined ? 0x08 : 0),
    );
    w.u64(mem.min);
    w.u64(Math.min(mem.max ?? maxPages, maxPages));
    if (mem.pageSizeLog2 !== undefined) w.u32(mem.pageSizeLog2);
  }
  w.endSized(mark);
  return w.buf.subarray(0, w.len);
}

/** Prefix of the exports `exportMutableGlobals` adds. */
export const GLOBAL_SNAPSHOT_PREFIX = "__wasmlet_cg";

/**
 * Exports every mutable global a core module defines (as `__wasmlet_cg<index>`), so a host can save and restore
 * them: with the memory, that returns an instance to its state right after instantiation. Returns the new binary
 * and the names added.
 */
export function exportMutableGlobals(bytes: Uint8Array): { bytes: Uint8Array; names: string[] } {
  const m = parseModule(bytes);
  const added: [string, number][] = [];
  m.globals.forEach((mutable, i) => {
    if (mutable && i >= m.importedGlobals) added.push([`${GLOBAL_SNAPSHOT_PREFIX}${i}`, i]);
  });
  if (added.length === 0) return { bytes, names: [] };
  const w = new Writer(bytes.length + 32 * added.length);
  w.bytes(bytes, 0, 8);
  const writeExports = (r: Reader | undefined): void => {
    w.byte(SECTION.export);
    const mark = w.beginSized();
    const count = r ? r.u32() : 0;
    w.u32(count + added.length);
    if (r) w.bytes(bytes, r.pos, r.end);
    for (const [name, index] of added) {
      w.name(name);
      w.byte(0x03);
      w.u32(index);
    }
    w.endSized(mark);
  };
  let done = false;
  for (const s of m.sections) {
    if (
      !done &&
      s.id !== SECTION.custom &&
      s.id !== SECTION.export &&
      SECTION_RANK[s.id] > SECTION_RANK[SECTION.export]
    ) {
      writeExports(undefined);
      done = true;
    }
    if (s.id === SECTION.export) {
      writeExports(new Reader(bytes, s.start, s.end));
      done = true;
    } else w.bytes(bytes, s.headerStart, s.end);
  }
  if (!done) writeExports(undefined);
  return { bytes: w.finish(), names: added.map(([n]) => n) };
}
