// Entry of the layer thread (layer-thread.ts): lays a large layer's tar out in one buffer, hashes it and, for the
// embedded registry, writes it to its staging directory. All off the API's thread, so that the request that
// creates a large function's image goes on meanwhile.
import { createHash, randomUUID } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";

/** The layer is hashed and written in regions of this size as it is laid out. */
const REGION_BYTES = 4 * 1024 * 1024;

/**
 * Bytes still arriving into `buffer` (an upload read into shared memory): `counter[0]` of them are there (they
 * never change after), `counter[1]` is nonzero when the rest never will be.
 */
export interface Arrival {
  buffer: SharedArrayBuffer;
  counter: Int32Array;
}

/** A job: the tar's pieces (views of SharedArrayBuffers arrive without a copy). */
export interface LayerRequest {
  id: number;
  pieces: Uint8Array[];
  /** A directory where the layer is written too (a new file, fsynced), so that a push can rename it into place. */
  stageDir?: string;
  /** Pieces in `arrival.buffer` are read as their bytes arrive. */
  arrival?: Arrival;
}

/** How long the thread waits for more of an upload before it looks again whether it was given up. */
const ARRIVAL_POLL_MS = 1000;

/** Bytes of `piece` there now (all of it unless it lies in a buffer still arriving); waits until more than `have`. */
function arrived(piece: Uint8Array, have: number, arrival: Arrival | undefined): number {
  if (!arrival || piece.buffer !== arrival.buffer) return piece.byteLength;
  for (;;) {
    const there = Atomics.load(arrival.counter, 0);
    const inPiece = Math.min(piece.byteLength, there - piece.byteOffset);
    if (inPiece > have) return inPiece;
    if (Atomics.load(arrival.counter, 1) !== 0) throw new Error("the upload ended before its module did");
    Atomics.wait(arrival.counter, 0, there, ARRIVAL_POLL_MS);
  }
}

/**
 * The layer (its buffer is transferred: it comes back without a copy, and this thread, which seldom collects its
 * garbage, keeps no hold on it) and its sha256; or why it failed.
 */
export type LayerReply =
  | { id: number; ok: true; layer: Uint8Array; digest: string; staged?: string }
  | { id: number; ok: false; message: string };

/**
 * Copies `pieces` into `out` in order, hashing `out` region by region as it is laid out; `onRegion(from, to)` is
 * told of each finished region. A piece still arriving (`arrival`) is copied as its bytes come: this thread waits
 * for them. Returns the sha256 digest.
 */
function layOut(
  pieces: Uint8Array[],
  out: Uint8Array,
  arrival: Arrival | undefined,
  onRegion?: (from: number, to: number) => void,
): string {
  const hash = createHash("sha256");
  let at = 0;
  let done = 0;
  const finish = (to: number) => {
    hash.update(out.subarray(done, to));
    onRegion?.(done, to);
    done = to;
  };
  for (const piece of pieces) {
    for (let p = 0, there = 0; p < piece.byteLength; ) {
      if (there <= p) there = arrived(piece, p, arrival);
      const n = Math.min(there - p, REGION_BYTES - (at - done));
      out.set(piece.subarray(p, p + n), at);
      at += n;
      p += n;
      if (at - done >= REGION_BYTES) finish(at);
    }
  }
  if (at > done) finish(at);
  return `sha256:${hash.digest("hex")}`;
}

async function make(
  pieces: Uint8Array[],
  stageDir: string | undefined,
  arrival: Arrival | undefined,
): Promise<{ layer: Uint8Array; digest: string; staged?: string }> {
  let total = 0;
  for (const p of pieces) total += p.byteLength;
  const layer = new Uint8Array(total);
  if (stageDir === undefined) return { layer, digest: layOut(pieces, layer, arrival) };
  // Staged: each finished region is written by libuv's threads while this one lays out and hashes the next.
  const path = join(stageDir, `layer-${randomUUID()}`);
  const fh = await open(path, "wx");
  const writes: Promise<unknown>[] = [];
  try {
    let digest: string;
    try {
      digest = layOut(pieces, layer, arrival, (from, to) => {
        const w = fh.write(layer, from, to - from, from);
        w.catch(() => {});
        writes.push(w);
      });
    } finally {
      await Promise.allSettled(writes);
    }
    await Promise.all(writes);
    await fh.sync();
    await fh.close();
    return { layer, digest, staged: path };
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(path, { force: true });
    throw e;
  }
}

const port = parentPort;
if (!port) throw new Error("layer-worker must run in a worker thread");
port.on("message", (request: LayerRequest) => {
  const { id } = request;
  make(request.pieces, request.stageDir, request.arrival).then(
    (made) => port.postMessage({ id, ok: true, ...made }, [made.layer.buffer as ArrayBuffer]),
    (e: unknown) => port.postMessage({ id, ok: false, message: e instanceof Error ? e.message : String(e) }),
  );
});
