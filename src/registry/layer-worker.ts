// Entry of a layer thread (layer-thread.ts): writes large layers as stored gzip, hashes them and, for the
// embedded registry, writes them to its staging directory; or hashes a layer's tar (its diff_id) beside that. All
// off the API's thread, so that the request that creates a large function's image checks and compiles its module
// meanwhile.
import { createHash, randomUUID } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import { storedGzipSize, writeStoredGzip } from "./stored-gzip.js";

/** A job: the tar's pieces (views of SharedArrayBuffers arrive without a copy). */
export type LayerRequest =
  | {
      id: number;
      kind: "layer";
      pieces: Uint8Array[];
      /** A directory where the layer is written too (a new file, fsynced), so that a push can rename it into place. */
      stageDir?: string;
    }
  | { id: number; kind: "sha256"; pieces: Uint8Array[] };

/**
 * The layer (its buffer is transferred: it comes back without a copy, and this thread, which seldom collects its
 * garbage, keeps no hold on it) and its digest; or the sha256 of the pieces; or why it failed.
 */
export type LayerReply =
  | { id: number; ok: true; layer: Uint8Array; digest: string; staged?: string }
  | { id: number; ok: true; sha256: string }
  | { id: number; ok: false; message: string };

async function make(
  pieces: Uint8Array[],
  stageDir: string | undefined,
): Promise<{ layer: Uint8Array; digest: string; staged?: string }> {
  let total = 0;
  for (const p of pieces) total += p.byteLength;
  const layer = new Uint8Array(storedGzipSize(total));
  if (stageDir === undefined) return { layer, digest: writeStoredGzip(pieces, layer) };
  // Staged: each finished region is written by libuv's threads while this one lays out and hashes the next.
  const path = join(stageDir, `layer-${randomUUID()}`);
  const fh = await open(path, "wx");
  const writes: Promise<unknown>[] = [];
  try {
    let digest: string;
    try {
      digest = writeStoredGzip(pieces, layer, (from, to) => {
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

function sha256(pieces: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of pieces) h.update(p);
  return `sha256:${h.digest("hex")}`;
}

const port = parentPort;
if (!port) throw new Error("layer-worker must run in a worker thread");
port.on("message", (request: LayerRequest) => {
  const { id } = request;
  const failed = (e: unknown) =>
    port.postMessage({ id, ok: false, message: e instanceof Error ? e.message : String(e) });
  if (request.kind === "sha256") {
    try {
      port.postMessage({ id, ok: true, sha256: sha256(request.pieces) });
    } catch (e) {
      failed(e);
    }
    return;
  }
  make(request.pieces, request.stageDir).then(
    (made) => port.postMessage({ id, ok: true, ...made }, [made.layer.buffer as ArrayBuffer]),
    failed,
  );
});
