import { invalid, type Reader } from "./bytes.js";
import { type ExprScan, PATCH_FUNC, PATCH_KINDS, scanExpr } from "./instructions.js";

// Walks over the sections whose entries hold function indices outside code, recording them as patches
// (see ExprScan) so the rewrite can renumber them while copying everything else verbatim.

/** Table section: initializer expressions (function-references tables) may hold ref.func. */
export function scanTables(r: Reader, scan: ExprScan): void {
  for (let i = 0, n = r.u32(); i < n; i++) {
    const withInit = r.bytes[r.pos] === 0x40 && r.bytes[r.pos + 1] === 0x00;
    if (withInit) r.skip(2);
    r.valType();
    const flags = r.u8();
    r.skipLeb();
    if (flags & 0x01) r.skipLeb();
    if (withInit) scanExpr(r, scan);
  }
}

/** Element section, in all eight segment encodings: function indices and ref.func in expressions. */
export function scanElements(r: Reader, scan: ExprScan): void {
  for (let i = 0, n = r.u32(); i < n; i++) {
    const flags = r.u32();
    if (flags > 7) throw invalid(`unknown element segment encoding ${flags} at byte offset ${r.pos - 1}`);
    if (flags === 2 || flags === 6) r.u32(); // table index
    if ((flags & 0x01) === 0) scanExpr(r, scan); // active: offset expression
    const usesExprs = (flags & 0x04) !== 0;
    if (flags & 0x03) {
      if (usesExprs)
        r.valType(); // reference type
      else r.u8(); // element kind (funcref)
    }
    const count = r.u32();
    for (let j = 0; j < count; j++) {
      if (usesExprs) scanExpr(r, scan);
      else {
        scan.patches.push(r.pos * PATCH_KINDS + PATCH_FUNC);
        r.u32();
      }
    }
  }
}
