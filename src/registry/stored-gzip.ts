import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import type { Digest } from "../core/index.js";

/**
 * A gzip member (RFC 1952) whose deflate stream is stored blocks only (RFC 1951 3.2.4: no compression), written by
 * hand: what zlib's level 0 makes, without zlib. For a large layer's tar (30 MB) zlib's level 0 still took 25-40 ms
 * here (its window copies and a CRC), and its output came in pieces to join (another copy, 20 ms and 30 MB of fresh
 * pages); this writes each byte once, straight into the buffer the layer is kept in, and takes the CRC-32
 * (zlib.crc32) and the member's SHA-256 in the same pass. Every gunzip reads it.
 */

/** Largest payload of one stored block: LEN is 16 bits. */
const STORED_BLOCK_BYTES = 65535;
/** Magic, CM = deflate, no flags, MTIME 0, XFL 0, OS 255 (unknown): the same bytes on every machine. */
const GZIP_HEADER = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff];
const BLOCK_HEADER_BYTES = 5;
const TRAILER_BYTES = 8;

/** The size of the stored gzip member of `dataBytes` bytes. */
export function storedGzipSize(dataBytes: number): number {
  const blocks = Math.max(1, Math.ceil(dataBytes / STORED_BLOCK_BYTES));
  return GZIP_HEADER.length + dataBytes + blocks * BLOCK_HEADER_BYTES + TRAILER_BYTES;
}

/** BFINAL and BTYPE 00 in the first byte (the rest of it is padding to the byte boundary), then LEN and NLEN. */
function blockHeader(out: Uint8Array, at: number, len: number, final: boolean): void {
  out[at] = final ? 1 : 0;
  out[at + 1] = len & 0xff;
  out[at + 2] = len >>> 8;
  out[at + 3] = ~len & 0xff;
  out[at + 4] = (~len >>> 8) & 0xff;
}

function u32le(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}

/** How much of the member is hashed (and handed to `onRegion`) at a time. */
const REGION_BYTES = 4 * 1024 * 1024;

/**
 * Writes the concatenation of `pieces` as a stored gzip member into `out` (exactly `storedGzipSize` bytes) and
 * returns the member's sha256 digest (the layer's digest; the data's own, its diff_id, is hashed beside this on
 * another thread). Each block's bytes are copied and summed (CRC-32) while they are in the cache, and the member
 * is hashed region by region as it is laid out; `onRegion(from, to)` is told of each finished region of `out`
 * (~4 MiB, the last one with the trailer), so a caller can write it out meanwhile.
 */
export function writeStoredGzip(
  pieces: readonly Uint8Array[],
  out: Uint8Array,
  onRegion?: (from: number, to: number) => void,
): Digest {
  let total = 0;
  for (const p of pieces) total += p.byteLength;
  if (out.byteLength !== storedGzipSize(total))
    throw new RangeError(
      `a stored gzip of ${total} bytes is ${storedGzipSize(total)} bytes, not ${out.byteLength}`,
    );
  const member = createHash("sha256");
  let done = 0;
  const finish = (to: number) => {
    member.update(out.subarray(done, to));
    onRegion?.(done, to);
    done = to;
  };
  out.set(GZIP_HEADER, 0);
  let at = GZIP_HEADER.length;
  let left = total;
  let inBlock = 0;
  let crc = 0;
  for (const piece of pieces) {
    for (let off = 0; off < piece.byteLength; ) {
      if (inBlock === 0) {
        if (at - done >= REGION_BYTES) finish(at);
        inBlock = Math.min(STORED_BLOCK_BYTES, left);
        blockHeader(out, at, inBlock, inBlock === left);
        at += BLOCK_HEADER_BYTES;
      }
      const n = Math.min(inBlock, piece.byteLength - off);
      const chunk = piece.subarray(off, off + n);
      out.set(chunk, at);
      crc = crc32(chunk, crc);
      at += n;
      off += n;
      inBlock -= n;
      left -= n;
    }
  }
  if (total === 0) {
    blockHeader(out, at, 0, true);
    at += BLOCK_HEADER_BYTES;
  }
  u32le(out, at, crc);
  u32le(out, at + 4, total >>> 0);
  finish(at + TRAILER_BYTES);
  return `sha256:${member.digest("hex")}`;
}
