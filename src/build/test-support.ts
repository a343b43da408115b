// A WASI runner for this folder's tests (not exported from index.ts; importing node:wasi prints a warning).
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WASI } from "node:wasi";

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The trap that ended the run (exitCode is then -1), e.g. "unreachable" after a Rust panic. */
  trap?: string;
}

/**
 * Runs a WASI command module with node's own WASI implementation (a real preview1 host, so a builder's
 * output is checked against more than wasmlet's runtime), capturing stdout and stderr through temp files.
 */
export async function runCommand(module: Uint8Array, args: string[]): Promise<CommandResult> {
  const dir = await mkdtemp(join(tmpdir(), "wasmlet-run-"));
  const out = await open(join(dir, "stdout"), "w+");
  const err = await open(join(dir, "stderr"), "w+");
  try {
    const wasi = new WASI({
      version: "preview1",
      args,
      env: {},
      stdout: out.fd,
      stderr: err.fd,
      returnOnExit: true,
    });
    const compiled = await WebAssembly.compile(module as Uint8Array<ArrayBuffer>);
    const instance = await WebAssembly.instantiate(compiled, wasi.getImportObject() as WebAssembly.Imports);
    let exitCode = -1;
    let trap: string | undefined;
    try {
      exitCode = wasi.start(instance);
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
      trap = e.message;
    }
    return {
      exitCode,
      trap,
      stdout: await readFile(join(dir, "stdout"), "utf8"),
      stderr: await readFile(join(dir, "stderr"), "utf8"),
    };
  } finally {
    await out.close();
    await err.close();
    await rm(dir, { recursive: true, force: true });
  }
}
