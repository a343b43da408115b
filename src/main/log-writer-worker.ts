// Entry of the log writer thread: appends invocation records to the SQLite store off the request thread.
import { parentPort, workerData } from "node:worker_threads";
import { lowerThreadPriority } from "../runtime/index.js";
import { SqliteStore } from "../store/index.js";
import { type PackedLogs, unpackLogs } from "./log-buffer.js";

const port = parentPort;
if (!port) throw new Error("log-writer-worker must run in a worker thread");
// Logging is background work: it runs on whatever CPU the request path leaves (batches wait in the meantime).
lowerThreadPriority(19);
const store = new SqliteStore((workerData as { dataDir: string }).dataDir);
port.on("message", (msg: { id: number; batch: PackedLogs }) => {
  store.appendLogs(unpackLogs(msg.batch)).then(
    () => port.postMessage({ id: msg.id }),
    (e: unknown) => port.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
