import { rm } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { type Digest, WasmletError } from "../core/index.js";
import type { LayerReply, LayerRequest } from "./layer-worker.js";

/**
 * A thread with nothing to do for this long ends; a new one boots for the next large layer (~30 ms, while its
 * upload arrives: prestartLayerThread). Ended, it holds nothing: an idle thread never collects its garbage, and
 * what it kept of the modules it was sent (views of their shared memory) stayed allocated — bench large, RSS after
 * deleting 3 functions: +58-68 MiB over the start with threads kept 30 s, +26 MiB with 1 s.
 */
const IDLE_EXIT_MS = 2000;

/** Pieces at least this large that are not in shared memory are put there once, not copied to both threads. */
const SHARE_MIN_BYTES = 64 * 1024;

export interface StoredLayer {
  /** The gzip member. */
  layer: Uint8Array;
  /** sha256 of the tar (the config's diff_id). */
  diffId: Digest;
  /** sha256 of `layer`. */
  digest: Digest;
  /** The file of the staging directory the layer was written to (fsynced), when one was given. */
  staged?: string;
}

type Job =
  | { kind: "layer"; pieces: Uint8Array[]; stageDir?: string }
  | { kind: "sha256"; pieces: Uint8Array[] };
type Done = Extract<LayerReply, { ok: true }>;

/** A worker thread that takes layer jobs (layer-worker.ts). Started on first use, ended when idle. */
class LayerThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Done) => void; reject: (e: Error) => void }>();
  private idle: NodeJS.Timeout | undefined;

  prestart(): void {
    if (this.worker) return;
    this.rest(this.start());
  }

  run(job: Job): Promise<Done> {
    const worker = this.start();
    clearTimeout(this.idle);
    const id = this.nextId++;
    const request: LayerRequest = { id, ...job };
    return new Promise<Done>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage(request);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./layer-worker.js", import.meta.url));
    worker.on("message", (reply: LayerReply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (reply.ok) w.resolve(reply);
      else w.reject(new WasmletError("INTERNAL", `making the image's layer failed: ${reply.message}`));
      if (this.waiting.size === 0) this.rest(worker);
    });
    const fail = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      clearTimeout(this.idle);
      for (const w of this.waiting.values())
        w.reject(new WasmletError("INTERNAL", `the layer thread ${why}`));
      this.waiting.clear();
    };
    worker.on("error", (e) => fail(`failed: ${e.message}`));
    worker.on("exit", (code) => fail(`ended (code ${code})`));
    this.worker = worker;
    return worker;
  }

  /** Nothing asked of it: the process may end without it, and it ends after IDLE_EXIT_MS. */
  private rest(worker: Worker): void {
    worker.unref();
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (this.worker === worker && this.waiting.size === 0) {
        this.worker = undefined;
        void worker.terminate();
      }
    }, IDLE_EXIT_MS);
    this.idle.unref();
  }
}

/**
 * Two threads make a large layer while the thread that asked goes on (the API checks and compiles the module of
 * the function whose image it is meanwhile): one lays out the stored gzip, sums and hashes it and writes it out
 * (~60 ms of CPU for 30 MB here), the other hashes the tar for the diff_id (~28 ms). One thread doing both took
 * ~30 ms longer to the push, which waits for both.
 */
const threads = { layer: new LayerThread(), tar: new LayerThread() };

/**
 * Starts the layer threads that are not running, so that their boot (~30 ms here) overlaps what comes before the
 * layer (a large upload's transfer); they end again after IDLE_EXIT_MS if nothing is asked of them.
 */
export function prestartLayerThread(): void {
  threads.layer.prestart();
  threads.tar.prestart();
}

/** A piece both threads read: shared memory as it is, a small piece as it is (copied), a large one shared once. */
function shareable(p: Uint8Array): Uint8Array {
  if (p.buffer instanceof SharedArrayBuffer || p.byteLength < SHARE_MIN_BYTES) return p;
  const shared = new Uint8Array(new SharedArrayBuffer(p.byteLength));
  shared.set(p);
  return shared;
}

/**
 * The tar given as its pieces, made into a stored gzip layer with its digests on the layer threads, and written
 * to a new file of `stageDir` when given.
 */
export async function storedLayerOffThread(tarPieces: Uint8Array[], stageDir?: string): Promise<StoredLayer> {
  const pieces = tarPieces.map(shareable);
  const tar = threads.tar.run({ kind: "sha256", pieces });
  tar.catch(() => {});
  const made = await threads.layer.run({ kind: "layer", pieces, stageDir });
  if (!("layer" in made)) throw new WasmletError("INTERNAL", "the layer thread answered another job");
  let diffId: Done;
  try {
    diffId = await tar;
  } catch (e) {
    if (made.staged) await rm(made.staged, { force: true });
    throw e;
  }
  if (!("sha256" in diffId)) throw new WasmletError("INTERNAL", "the layer thread answered another job");
  return {
    layer: made.layer,
    digest: made.digest as Digest,
    diffId: diffId.sha256 as Digest,
    staged: made.staged,
  };
}
