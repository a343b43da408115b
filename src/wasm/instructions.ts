import { invalid, type Reader } from "./bytes.js";

/** Instructions that change state a reset (restore linear memory + mutable globals) cannot restore. */
export const BLOCKER = {
  memoryInit: 1 << 0,
  dataDrop: 1 << 1,
  elemDrop: 1 << 2,
  tableSet: 1 << 3,
  tableGrow: 1 << 4,
  tableFill: 1 << 5,
  tableCopy: 1 << 6,
  tableInit: 1 << 7,
  /** Never found by a walk: what `inspectModule(bytes, { resetBlockers: false })` reports instead of walking. */
  notAnalysed: 1 << 8,
} as const;

/** Blocker bits that write to a table. */
export const TABLE_WRITES =
  BLOCKER.tableSet | BLOCKER.tableGrow | BLOCKER.tableFill | BLOCKER.tableCopy | BLOCKER.tableInit;

export const BLOCKER_REASONS: ReadonlyArray<[number, string]> = [
  [BLOCKER.memoryInit, "uses memory.init (passive data segments are not restored by a reset)"],
  [BLOCKER.dataDrop, "uses data.drop (a dropped data segment cannot be restored)"],
  [BLOCKER.elemDrop, "uses elem.drop (a dropped element segment cannot be restored)"],
  [BLOCKER.tableSet, "uses table.set (table contents are not restored by a reset)"],
  [BLOCKER.tableGrow, "uses table.grow (table size is not restored by a reset)"],
  [BLOCKER.tableFill, "uses table.fill (table contents are not restored by a reset)"],
  [BLOCKER.tableCopy, "uses table.copy (table contents are not restored by a reset)"],
  [BLOCKER.tableInit, "uses table.init (table contents are not restored by a reset)"],
  [BLOCKER.notAnalysed, "its code was not analysed"],
];

/**
 * What one walk over an expression found. `patches` holds, in byte order, `pos * 4 + kind`: kind 0 is a
 * function-index LEB128 starting at `pos` (call, return_call, ref.func), kind 1 is the start of a loop
 * body (right after the loop's block type), kind 2 is a `memory.grow` opcode at `pos`. Reused between walks to keep the hot path allocation-free.
 */
export class ExprScan {
  patches: number[] = [];
  blockers = 0;
  loops = 0;

  reset(): void {
    this.patches.length = 0;
    this.blockers = 0;
    this.loops = 0;
  }
}

export const PATCH_FUNC = 0;
export const PATCH_LOOP = 1;
export const PATCH_GROW = 2;
export const PATCH_KINDS = 4;

/**
 * Walks instructions from `r.pos` up to and including the `end` that closes the expression, decoding
 * every immediate. Throws INVALID_MODULE naming the opcode and its offset for an opcode it does not know.
 */
export function scanExpr(r: Reader, scan: ExprScan): void {
  let depth = 0;
  for (;;) {
    const at = r.pos;
    const op = r.u8();
    if (op >= 0x45 && op <= 0xc4) continue; // numeric, incl. sign extension: no immediates
    switch (op) {
      case 0x00: // unreachable
      case 0x01: // nop
      case 0x05: // else
      case 0x0a: // throw_ref
      case 0x0f: // return
      case 0x19: // catch_all
      case 0x1a: // drop
      case 0x1b: // select
      case 0xd1: // ref.is_null
      case 0xd3: // ref.eq
      case 0xd4: // ref.as_non_null
        break;
      case 0x02: // block
      case 0x04: // if
      case 0x06: // try
        r.blockType();
        depth++;
        break;
      case 0x03: // loop
        r.blockType();
        depth++;
        scan.loops++;
        scan.patches.push(r.pos * PATCH_KINDS + PATCH_LOOP);
        break;
      case 0x1f: {
        // try_table: block type, then catch clauses (kind, [tag], label)
        r.blockType();
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const kind = r.u8();
          if (kind > 3) throw invalid(`unknown try_table catch kind ${kind} at byte offset ${r.pos - 1}`);
          if (kind < 2) r.u32();
          r.u32();
        }
        depth++;
        break;
      }
      case 0x0b: // end
        if (depth === 0) return;
        depth--;
        break;
      case 0x18: // delegate: closes its try like end
        r.u32();
        depth--;
        break;
      case 0x07: // catch tag
      case 0x08: // throw tag
      case 0x09: // rethrow label
      case 0x0c: // br
      case 0x0d: // br_if
      case 0x14: // call_ref type
      case 0x15: // return_call_ref type
      case 0x20: // local.get
      case 0x21: // local.set
      case 0x22: // local.tee
      case 0x23: // global.get
      case 0x24: // global.set
      case 0x25: // table.get
      case 0x3f: // memory.size
      case 0xd5: // br_on_null
      case 0xd6: // br_on_non_null
        r.u32();
        break;
      case 0x40: // memory.grow: routed through the host, which enforces the cap with a clear error
        scan.patches.push(at * PATCH_KINDS + PATCH_GROW);
        r.u32();
        break;
      case 0x26: // table.set
        r.u32();
        scan.blockers |= BLOCKER.tableSet;
        break;
      case 0x0e: {
        // br_table: vector of labels plus the default
        const n = r.u32();
        for (let i = 0; i <= n; i++) r.u32();
        break;
      }
      case 0x10: // call
      case 0x12: // return_call
      case 0xd2: // ref.func
        scan.patches.push(r.pos * PATCH_KINDS + PATCH_FUNC);
        r.u32();
        break;
      case 0x11: // call_indirect type table
      case 0x13: // return_call_indirect type table
        r.u32();
        r.u32();
        break;
      case 0x1c: {
        // select with explicit result types
        const n = r.u32();
        for (let i = 0; i < n; i++) r.valType();
        break;
      }
      case 0x41: // i32.const
      case 0x42: // i64.const
      case 0xd0: // ref.null heap type (s33)
        r.skipLeb();
        break;
      case 0x43: // f32.const
        r.skip(4);
        break;
      case 0x44: // f64.const
        r.skip(8);
        break;
      case 0xfc:
        scanPrefixFC(r, scan, at);
        break;
      case 0xfd:
        scanPrefixFD(r, at);
        break;
      case 0xfe:
        scanPrefixFE(r, at);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) {
          memarg(r); // loads and stores
          break;
        }
        throw unknownOpcode(at, op);
    }
  }
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory: explicit memory index
  r.skipLeb(); // offset (u64 under memory64)
}

/** Saturating truncation, bulk memory and table instructions. */
function scanPrefixFC(r: Reader, scan: ExprScan, at: number): void {
  const sub = r.u32();
  switch (sub) {
    case 8: // memory.init data mem
      r.u32();
      r.u32();
      scan.blockers |= BLOCKER.memoryInit;
      return;
    case 9: // data.drop
      r.u32();
      scan.blockers |= BLOCKER.dataDrop;
      return;
    case 10: // memory.copy dst src
      r.u32();
      r.u32();
      return;
    case 11: // memory.fill
      r.u32();
      return;
    case 12: // table.init elem table
      r.u32();
      r.u32();
      scan.blockers |= BLOCKER.tableInit;
      return;
    case 13: // elem.drop
      r.u32();
      scan.blockers |= BLOCKER.elemDrop;
      return;
    case 14: // table.copy dst src
      r.u32();
      r.u32();
      scan.blockers |= BLOCKER.tableCopy;
      return;
    case 15: // table.grow
      r.u32();
      scan.blockers |= BLOCKER.tableGrow;
      return;
    case 16: // table.size
      r.u32();
      return;
    case 17: // table.fill
      r.u32();
      scan.blockers |= BLOCKER.tableFill;
      return;
    default:
      if (sub <= 7) return; // i32/i64.trunc_sat_f32/f64_s/u
      throw unknownOpcode(at, 0xfc, sub);
  }
}

/** SIMD opcodes 0x00-0x113 that do not exist (checked against V8's decoder). */
const SIMD_GAPS = new Set([
  0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4,
  0xe2, 0xee,
]);

/** SIMD (0xFD), relaxed SIMD included. */
function scanPrefixFD(r: Reader, at: number): void {
  const sub = r.u32();
  if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) {
    memarg(r); // v128.load*, v128.store, v128.load32/64_zero
  } else if (sub === 0x0c || sub === 0x0d) {
    r.skip(16); // v128.const, i8x16.shuffle
  } else if (sub >= 0x15 && sub <= 0x22) {
    r.skip(1); // extract/replace lane
  } else if (sub >= 0x54 && sub <= 0x5b) {
    memarg(r); // v128.load/store*_lane
    r.skip(1);
  } else if (sub > 0x113 || SIMD_GAPS.has(sub)) {
    throw unknownOpcode(at, 0xfd, sub);
  }
}

/** Threads (atomics). */
function scanPrefixFE(r: Reader, at: number): void {
  const sub = r.u32();
  if (sub === 0x03)
    r.skip(1); // atomic.fence
  else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) memarg(r);
  else throw unknownOpcode(at, 0xfe, sub);
}

function unknownOpcode(at: number, op: number, sub?: number): Error {
  const name = sub === undefined ? hex(op) : `${hex(op)} ${hex(sub)}`;
  return invalid(`unknown opcode ${name} at byte offset ${at}`);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}
