import { Worker } from "node:worker_threads";
import { type Digest, WasmletError } from "../core/index.js";
import type { Arrival, LayerReply, LayerRequest } from "./layer-worker.js";

export type { Arrival } from "./layer-worker.js";

/**
 * A thread with nothing to do for this long ends; a new one boots for the next large layer (~30 ms, while its
 * upload arrives: prestartLayerThread). Ended, it holds nothing: an idle thread never collects its garbage, and
 * what it kept of the modules it was sent (views of their shared memory) stayed allocated — bench large, RSS after
 * deleting 3 functions: +58-68 MiB over the start with threads kept 30 s, +26 MiB with 1 s.
 */
const IDLE_EXIT_MS = 2000;

/** Pieces at least this large that are not in shared memory are put there (one copy), not copied into the message. */
const SHARE_MIN_BYTES = 64 * 1024;

export interface TarLayer {
  /** The tar, in one buffer; none when it was staged (its file holds it). */
  layer?: Uint8Array;
  size: number;
  /** sha256 of `layer`: the layer's digest and its diff_id. */
  digest: Digest;
  /** The file of the staging directory the layer was written to (fsynced), when one was given. */
  staged?: string;
}

type Job = Omit<LayerRequest, "id">;
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
 * The thread that makes large layers while the thread that asked goes on (the API checks the module of the
 * function whose image it is meanwhile): it lays the tar out in one buffer, hashes it and writes it out.
 */
const thread = new LayerThread();

/**
 * Starts the layer thread if it is not running, so that its boot (~30 ms here) overlaps what comes before the
 * layer (a large upload's transfer); it ends again after IDLE_EXIT_MS if nothing is asked of it.
 */
export function prestartLayerThread(): void {
  thread.prestart();
}

/** A piece for the thread: shared memory as it is, a small piece as it is (copied), a large one shared once. */
function shareable(p: Uint8Array): Uint8Array {
  if (p.buffer instanceof SharedArrayBuffer || p.byteLength < SHARE_MIN_BYTES) return p;
  const shared = new Uint8Array(new SharedArrayBuffer(p.byteLength));
  shared.set(p);
  return shared;
}

/**
 * The tar given as its pieces, hashed on the layer thread and written to a new file of `stageDir` when given, else
 * laid out in one buffer. Pieces in `arrival`'s buffer are taken as their bytes arrive (see Arrival): the layer is
 * made while an upload goes on.
 */
export async function tarLayerOffThread(
  tarPieces: Uint8Array[],
  stageDir?: string,
  arrival?: Arrival,
): Promise<TarLayer> {
  const made = await thread.run({ pieces: tarPieces.map(shareable), stageDir, arrival });
  return { layer: made.layer, size: made.size, digest: made.digest as Digest, staged: made.staged };
}
