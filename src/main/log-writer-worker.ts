// Entry of the log writer thread: appends invocation records to the SQLite store off the request thread.
import { parentPort, workerData } from "node:worker_threads";
import { lowerThreadPriority, pinHelperThread } from "../runtime/index.js";
import { SqliteStore } from "../store/index.js";
import { type PackedLogs, storeLogs } from "./log-buffer.js";

const port = parentPort;
if (!port) throw new Error("log-writer-worker must run in a worker thread");
// Logging is background work: below the request thread (nice 10: about a tenth of a core it shares with it,
// so a busy router cannot starve it; all of an idle core).
lowerThreadPriority(10);
pinHelperThread();
const store = new SqliteStore((workerData as { dataDir: string }).dataDir);
port.on("message", (msg: { id: number; batch: PackedLogs }) => {
  storeLogs(store, msg.batch).then(
    () => port.postMessage({ id: msg.id }),
    (e: unknown) => port.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
