// Bytes the tests of several folders build wasm modules from (core may be imported by every folder).

/** `n` as unsigned LEB128, as the wasm binary format writes sizes and counts. */
export function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    const b = n & 0x7f;
    n >>>= 7;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return out;
}

/** `content` after its size (LEB128), as the binary format lays out a section's contents or a function body. */
export function sized(content: Uint8Array | number[]): Buffer {
  return Buffer.concat([Buffer.from(leb128(content.length)), Buffer.from(content)]);
}

/** A wasm section: its id, then `content` sized. */
export function section(id: number, content: Uint8Array | number[]): Buffer {
  return Buffer.concat([Buffer.from([id]), sized(content)]);
}

/** A wasm custom section (id 0) named `name` holding `payload`: appended to a module, the same program, larger. */
export function customSection(name: string, payload: Uint8Array): Uint8Array {
  const n = Buffer.from(name);
  return section(0, Buffer.concat([Buffer.from(leb128(n.length)), n, payload]));
}
