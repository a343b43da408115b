// Entry of a one-off thread that transpiles a component with jco (seconds of CPU for a large one): the request
// thread goes on serving meanwhile.
import { parentPort, workerData } from "node:worker_threads";
import { transpileBytes } from "@bytecodealliance/jco-transpile";

const { bytes } = workerData as { bytes: Uint8Array };
try {
  const out = await transpileBytes(bytes, {
    name: "component",
    instantiation: "sync",
    emitTypescriptDeclarations: false,
  });
  parentPort?.postMessage({ files: out.files });
} catch (e) {
  parentPort?.postMessage({ error: e instanceof Error ? e.message : String(e) });
}
