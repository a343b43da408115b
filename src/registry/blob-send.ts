import { open } from "node:fs/promises";
import type { Writable } from "node:stream";

/**
 * Bytes per disk read when a blob is sent. Node's stream default (64 KiB) made a 10 MB pull 160 thread-pool
 * reads and socket writes; at 1 MiB the server spent half the CPU and a bare 10 MB GET took ~0.55× the time
 * (4 MiB was no cheaper, and slower: less overlap of disk reads and socket writes).
 */
export const BLOB_READ_BYTES = 1024 * 1024;

/**
 * Writes bytes `start`..`end` (inclusive) of a file to `out`, reading into at most two buffers that are reused
 * in turn: a buffer is read into again only once the write that took it has reached the kernel. A read stream
 * allocated a new buffer per read instead, and that garbage (outside V8's heap, so collected only when V8 feels
 * its pressure) cost a 10 MB pull a full collection every other time: half its CPU. Rejects when `out` closes
 * first (a client that hung up) or the file ends early; does not end `out`.
 */
export async function sendFileRange(path: string, start: number, end: number, out: Writable): Promise<void> {
  const fh = await open(path, "r");
  try {
    const size = Math.min(BLOB_READ_BYTES, end - start + 1);
    const buffers = [Buffer.allocUnsafeSlow(size)];
    if (end - start + 1 > size) buffers.push(Buffer.allocUnsafeSlow(size));
    const writing: (Promise<void> | undefined)[] = buffers.map(() => undefined);
    let i = 0;
    for (let pos = start; pos <= end; i = (i + 1) % buffers.length) {
      await writing[i];
      const { bytesRead } = await fh.read(buffers[i], 0, Math.min(size, end - pos + 1), pos);
      if (bytesRead === 0) throw new Error(`${path} ended at byte ${pos}, before ${end + 1}`);
      writing[i] = written(out, buffers[i].subarray(0, bytesRead));
      pos += bytesRead;
    }
    await Promise.all(writing);
  } finally {
    await fh.close();
  }
}

/** Resolves once `out` has taken the chunk (its write callback); rejects if it fails or closes first. */
function written(out: Writable, chunk: Buffer): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    if (out.destroyed) {
      reject(new Error("the connection closed before the blob was sent"));
      return;
    }
    // A write to a socket already gone may never call back: the close says so instead.
    const onClose = () => reject(new Error("the connection closed before the blob was sent"));
    out.once("close", onClose);
    out.write(chunk, (e) => {
      out.off("close", onClose);
      if (e) reject(e);
      else resolve();
    });
  });
  // Awaited later (before the buffer is reused, or at the end): a failure meanwhile is not unhandled.
  done.catch(() => {});
  return done;
}
