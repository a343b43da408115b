import assert from "node:assert/strict";
import { test } from "node:test";
import { Writer } from "./bytes.js";

test("Writer.s32 writes signed LEB128 as the wasm spec encodes i32.const immediates", () => {
  const cases: [number, number[]][] = [
    [0, [0x00]],
    [63, [0x3f]],
    [64, [0xc0, 0x00]], // bit 6 set: one more byte, or it would read as negative
    [-1, [0x7f]],
    [-64, [0x40]],
    [-65, [0xbf, 0x7f]],
    [16384, [0x80, 0x80, 0x01]],
    [2 ** 31 - 1, [0xff, 0xff, 0xff, 0xff, 0x07]],
    [-(2 ** 31), [0x80, 0x80, 0x80, 0x80, 0x78]],
  ];
  for (const [value, bytes] of cases) {
    const w = new Writer(8);
    w.s32(value);
    assert.deepEqual([...w.finish()], bytes, String(value));
  }
});
