// Entry of the compile thread (compile-thread.ts): compiles large core modules as their bytes arrive in shared
// memory (StreamingCompile), off the thread that receives them, and hands each compiled module back.
import { parentPort, workerData } from "node:worker_threads";
import { shareLazyFlag } from "./compile.js";
import { StreamingCompile } from "./compile-stream.js";

/** What the thread is told of a module, in order: its bytes (shared memory) and cap, how far they arrived, the end. */
export type CompileRequest =
  | { id: number; kind: "start"; bytes: Uint8Array; maxMemoryPages: number }
  | { id: number; kind: "advance"; end: number }
  | { id: number; kind: "finish"; length: number }
  | { id: number; kind: "abandon" };

/** The compiled module (it is shared, not copied, by the message), or none when it did not compile. */
export interface CompileReply {
  id: number;
  module?: WebAssembly.Module;
}

const port = parentPort;
if (!port) throw new Error("compile-worker must run in a worker thread");
shareLazyFlag((workerData as { lazyFlag: SharedArrayBuffer }).lazyFlag);
const compiles = new Map<number, { compile: StreamingCompile; bytes: Uint8Array }>();
port.on("message", (m: CompileRequest) => {
  if (m.kind === "start") {
    const compile = new StreamingCompile(m.maxMemoryPages);
    compiles.set(m.id, { compile, bytes: m.bytes });
    void compile.result.then((r) => {
      compiles.delete(m.id);
      port.postMessage({ id: m.id, module: r?.module } satisfies CompileReply);
    });
    return;
  }
  const c = compiles.get(m.id);
  if (!c) return;
  if (m.kind === "advance") c.compile.advance(c.bytes, m.end);
  else if (m.kind === "finish") c.compile.finish(c.bytes, m.length);
  else c.compile.abandon();
});
