import { Reader, type Writer } from "./bytes.js";
import type { Section } from "./module.js";

const FUNCTION_NAMES = 1;
const LOCAL_NAMES = 2;
const LABEL_NAMES = 3;

/**
 * Writes the `name` custom section with every function index passed through `renumber` (function, local
 * and label names are keyed by function index; other subsections are copied). Returns false, having
 * written nothing, when the section is malformed: names are debug information and never fail a module.
 */
export function writeNameSection(
  w: Writer,
  src: Uint8Array,
  section: Section,
  renumber: (funcIndex: number) => number,
): boolean {
  const rollback = w.len;
  try {
    w.byte(0);
    const mark = w.beginSized();
    const r = new Reader(src, section.start, section.end);
    const nameStart = r.pos;
    r.skipName();
    w.bytes(src, nameStart, r.pos);
    while (r.pos < section.end) {
      const id = r.u8();
      const size = r.u32();
      const end = r.pos + size;
      if (end > section.end) return fail(w, rollback);
      w.byte(id);
      if (id === FUNCTION_NAMES || id === LOCAL_NAMES || id === LABEL_NAMES) {
        const sub = w.beginSized();
        const sr = new Reader(src, r.pos, end);
        const count = sr.u32();
        w.u32(count);
        for (let i = 0; i < count; i++) {
          w.u32(renumber(sr.u32()));
          const rest = sr.pos;
          if (id === FUNCTION_NAMES) sr.skipName();
          else
            for (let j = 0, n = sr.u32(); j < n; j++) {
              sr.u32();
              sr.skipName();
            }
          w.bytes(src, rest, sr.pos);
        }
        if (sr.pos !== end) return fail(w, rollback);
        w.endSized(sub);
      } else {
        w.u32(size);
        w.bytes(src, r.pos, end);
      }
      r.pos = end;
    }
    w.endSized(mark);
    return true;
  } catch {
    return fail(w, rollback);
  }
}

function fail(w: Writer, rollback: number): false {
  w.len = rollback;
  return false;
}
