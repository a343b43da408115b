// What this folder's tests and benchmark share: a WASI runner (node's own; not exported from index.ts, since importing
// node:wasi prints a warning) and sample sources for every builder.
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

// Sample sources.
export type SourceFiles = ReadonlyMap<string, Uint8Array>;

export function sourceTree(files: Record<string, string | Uint8Array>): SourceFiles {
  return new Map(
    Object.entries(files).map(([p, c]) => [p, typeof c === "string" ? new TextEncoder().encode(c) : c]),
  );
}

/** An identifier no toolchain knows: a broken sample's error must name it. */
export const UNDECLARED = "undeclared_wasmlet_identifier";

/** `(module (func (export "_start")))`: the smallest WASI command, for builds that only copy a module. */
export const MINIMAL_COMMAND = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
  0x07, 0x0a, 0x01, 0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
]);

/** A valid module with no exports at all: what a library build could leave behind. */
export const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

export interface LanguageSamples {
  /** hello.<ext>: prints `greeting`, then its arguments, space-separated, on one line. */
  hello: SourceFiles;
  greeting: string;
  /** Does not compile: uses UNDECLARED. */
  broken: SourceFiles;
  /** A user build command that compiles hello through the env vars the builder exposes. */
  buildCommand: string;
}

export const SAMPLES = {
  c: {
    hello: sourceTree({
      "hello.c": `#include <stdio.h>
int main(int argc, char **argv) {
  printf("hello from C");
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\\n");
  return 0;
}
`,
    }),
    greeting: "hello from C",
    broken: sourceTree({ "hello.c": `int main(void) { return ${UNDECLARED}; }\n` }),
    buildCommand: `$CC $CFLAGS $LDFLAGS -o "$BUILD_OUTPUT" hello.c`,
  },
  rust: {
    hello: sourceTree({
      "hello.rs": `fn main() {
    let mut parts = vec![String::from("hello from Rust")];
    parts.extend(std::env::args().skip(1));
    println!("{}", parts.join(" "));
}
`,
    }),
    greeting: "hello from Rust",
    broken: sourceTree({ "hello.rs": `fn main() {\n    println!("{}", ${UNDECLARED});\n}\n` }),
    buildCommand: `"$RUSTC" --target "$CARGO_BUILD_TARGET" -C opt-level=1 -o "$BUILD_OUTPUT" hello.rs`,
  },
  assemblyscript: {
    hello: sourceTree({
      "hello.ts": `const parts: string[] = ["hello from AssemblyScript"];
const argv = process.argv;
for (let i = 1; i < argv.length; i++) parts.push(argv[i]);
console.log(parts.join(" "));
`,
    }),
    greeting: "hello from AssemblyScript",
    broken: sourceTree({ "hello.ts": `console.log(${UNDECLARED});\n` }),
    buildCommand: `$ASC hello.ts --config "$ASC_WASI_SHIM_CONFIG" --outFile "$BUILD_OUTPUT"`,
  },
} satisfies Record<string, LanguageSamples>;
