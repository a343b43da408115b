import { WasmletError } from "../core/index.js";

/**
 * Checks that a build produced a WASI command: a valid module exporting the function `_start`.
 * WebAssembly.compile validates off the main thread, so a large module does not stall the server.
 */
export async function checkStartExport(bytes: Uint8Array): Promise<void> {
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new WasmletError(
      "BUILD_FAILED",
      `the build produced an invalid wasm module: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const hasStart = WebAssembly.Module.exports(module).some(
    (x) => x.name === "_start" && x.kind === "function",
  );
  if (!hasStart)
    throw new WasmletError("BUILD_FAILED", "the build produced a module without _start: is it a library?");
}
