import { fullGc } from "../core/index.js";

let timer: NodeJS.Timeout | undefined;

/** How long after the last large prepare or release the collection runs: a burst of deletes costs one. */
const RECLAIM_DELAY_MS = 500;

/**
 * Asks for one full garbage collection shortly (once for a burst of calls). Called after a large module was
 * prepared or released: what made it (the upload, the image's tar and gzip, the rewritten bytes) or what it
 * held (its compiled module, instances, files) is garbage, but an idle server allocates nothing and V8 collects
 * only when something is allocated, so a deleted 30 MB module's ~300 MiB stayed in the process (bench large)
 * until the next traffic. A full collection of the server's heap takes a few ms here.
 */
export function reclaimSoon(): void {
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = undefined;
    fullGc();
  }, RECLAIM_DELAY_MS);
  timer.unref();
}
