import { createHash, randomUUID } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Digest, WasmletError, waitAsync } from "../core/index.js";

/**
 * Bytes still arriving into `buffer` (an upload read into shared memory): `counter[0]` of them are there (they
 * never change after), `counter[1]` is nonzero when the rest never will be. Whoever fills the buffer stores the
 * new count and calls `Atomics.notify(counter, 0)`.
 */
export interface Arrival {
  buffer: SharedArrayBuffer;
  counter: Int32Array;
}

/**
 * An incremental sha256. It may hash on another thread, later: `update` queues bytes after those given before
 * (they must not change, nor their buffer be transferred, until the digest is settled), `digest` waits for them.
 */
export interface LayerHasher {
  update(bytes: Uint8Array): void;
  /** `sha256:` and the hex digest, once every update is hashed. The hasher takes no more updates. */
  digest(): Promise<Digest>;
}

/** The hasher used unless serve gives another (setLayerHasher): node's, on the calling thread. */
function inlineHasher(): LayerHasher {
  const hash = createHash("sha256");
  return {
    update: (bytes) => {
      hash.update(bytes);
    },
    digest: async () => `sha256:${hash.digest("hex")}` as Digest,
  };
}

let makeHasher: () => LayerHasher = inlineHasher;

/**
 * Sets how large layers are hashed; `undefined` restores node's hash on the calling thread. serve gives the native
 * addon's, which hashes on libuv's thread pool (native/sha256-async.c): on the request thread, the 30 MB of a large
 * upload cost ~25 ms of the thread that also compiles the module as it arrives; on a thread of our own, the boot of
 * a Node isolate (30-70 ms of CPU here) each time one had ended, or ~12 MiB of RSS for a thread kept for good.
 */
export function setLayerHasher(make: (() => LayerHasher) | undefined): void {
  makeHasher = make ?? inlineHasher;
}

/**
 * Arriving bytes are handed on in regions of at least this much (or up to their piece's end). Each region wakes a
 * pool thread twice (hash, write), which on 2 cores takes the request thread's core for a moment: with 2 MiB
 * instead of 1, creates 4 s apart answered first in a median 207 ms against 214 and the request thread used
 * 113 ms of CPU per create against 121 (3 servers × 3 creates each, interleaved; within the noise, in the same
 * direction twice).
 */
const MIN_REGION_BYTES = 2 * 1024 * 1024;
/**
 * A staged layer's written bytes are flushed to the disk every this many (fdatasync, while the next ones arrive),
 * so that the fsync at its end has only the last of them to wait for: the fsync of a whole 30 MB file took 15-17
 * ms here, after the upload's last byte; flushed as it was written, 0.4-4.5 ms.
 */
const SYNC_EVERY_BYTES = 4 * 1024 * 1024;
/** How long a wait for more of an upload lasts before it looks again whether the upload was given up. */
const ARRIVAL_POLL_MS = 1000;

export interface LargeLayer {
  /** The tar, in one buffer; none when it was staged (its file holds it). */
  layer?: Uint8Array;
  size: number;
  /** sha256 of the tar: the layer's digest and its diff_id. */
  digest: Digest;
  /** The file of the staging directory the layer was written to (fsynced), when one was given. */
  staged?: string;
}

/**
 * Bytes of `piece` there now, once at least `want` of them are (all of it unless it lies in a buffer still
 * arriving). Throws when the upload was given up first.
 */
async function arrived(piece: Uint8Array, want: number, arrival: Arrival | undefined): Promise<number> {
  if (!arrival || piece.buffer !== arrival.buffer) return piece.byteLength;
  for (;;) {
    const there = Atomics.load(arrival.counter, 0);
    const inPiece = Math.min(piece.byteLength, there - piece.byteOffset);
    if (inPiece >= want) return inPiece;
    if (Atomics.load(arrival.counter, 1) !== 0)
      throw new WasmletError("INVALID_ARGUMENT", "the upload ended before its module did");
    const wait = waitAsync(arrival.counter, 0, there, ARRIVAL_POLL_MS);
    if (wait.async) await wait.value;
  }
}

/** Writes all of `view` at `at` (a regular file's write may be short). */
async function writeAll(file: FileHandle, view: Uint8Array, at: number): Promise<void> {
  for (let done = 0; done < view.byteLength; ) {
    const { bytesWritten } = await file.write(view, done, view.byteLength - done, at + done);
    if (bytesWritten <= 0) throw new Error(`writing the layer stopped at byte ${at + done}`);
    done += bytesWritten;
  }
}

/**
 * A large layer: the tar given as its pieces, hashed and written to a new file of `stageDir` (fsynced) when given,
 * else laid out in one buffer. Pieces in `arrival`'s buffer are taken as their bytes arrive: the layer is made
 * while the upload goes on. No buffer of a staged layer is made (nothing reads it: a push to the embedded store
 * renames the file, one elsewhere reads it back). The hashing and the writes run on libuv's threads when serve
 * gave the native hasher, so that the caller's thread goes on (it compiles the module meanwhile).
 */
export async function makeLargeLayer(
  pieces: Uint8Array[],
  stageDir?: string,
  arrival?: Arrival,
): Promise<LargeLayer> {
  let size = 0;
  for (const p of pieces) size += p.byteLength;
  const hasher = makeHasher();
  const layer = stageDir === undefined ? new Uint8Array(size) : undefined;
  const path = stageDir === undefined ? undefined : join(stageDir, `layer-${randomUUID()}`);
  // Opened while the first region is hashed: the hashing starts in this turn of the event loop.
  const opening = path === undefined ? undefined : open(path, "wx");
  opening?.catch(() => {});
  const writes: Promise<void>[] = [];
  let digest: Promise<Digest> | undefined;
  try {
    let at = 0;
    let synced = 0;
    for (const piece of pieces) {
      for (let p = 0; p < piece.byteLength; ) {
        const there = await arrived(piece, Math.min(piece.byteLength, p + MIN_REGION_BYTES), arrival);
        const view = piece.subarray(p, there);
        hasher.update(view);
        const from = at;
        at += view.byteLength;
        p = there;
        if (!opening) {
          layer?.set(view, from);
          continue;
        }
        // Each failure is seen by the Promise.all below, turns later: handled now, so that the process does
        // not end on an unhandled rejection meanwhile.
        const write = opening.then((file) => writeAll(file, view, from));
        write.catch(() => {});
        writes.push(write);
        if (at - synced >= SYNC_EVERY_BYTES) {
          synced = at;
          const before = [...writes];
          const flush = Promise.all(before).then(() => opening.then((file) => file.datasync()));
          flush.catch(() => {});
          writes.push(flush);
        }
      }
    }
    digest = hasher.digest();
    const [sha] = await Promise.all([digest, ...writes]);
    const file = await opening;
    await file?.sync();
    await file?.close();
    return { layer, size, digest: sha, staged: path };
  } catch (e) {
    // Nothing may still read the pieces or write the file once this returns.
    await Promise.allSettled([(async () => digest ?? hasher.digest())(), ...writes]);
    if (opening && path !== undefined) {
      await opening.then((file) => file.close()).catch(() => {});
      await rm(path, { force: true });
    }
    throw e;
  }
}
