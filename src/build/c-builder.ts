import { BUILDER_SOURCES } from "../core/index.js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BaseBuilder, type BuildPlan, buildFailed, errorTail, type SourceTree } from "./base-builder.js";
import type { BuilderOptions, DetectResult } from "./types.js";
import { pathArg } from "./workspace.js";

export const C_INSTALL = "apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32";

/** wasi-libc's default stack is 64 KB with no guard page; 1 MB keeps ordinary C from corrupting its heap. */
const C_TARGET_FLAGS = ["--target=wasm32-wasi"];
const C_FLAGS = ["-O2", "-s", "-Wl,-z,stack-size=1048576"];

/**
 * Compiles every `.c` file of the tree into one WASI command with Debian's clang + wasi-libc (no --sysroot
 * needed there). Include path: the tree root. The module is named after `main.c`, the only `.c`, or the first.
 */
export class CBuilder extends BaseBuilder {
  readonly name = "c";
  readonly extensions = BUILDER_SOURCES.c;
  protected readonly label = "C";
  protected readonly installCommand = C_INSTALL;

  constructor(options?: BuilderOptions) {
    super("clang", options);
  }

  async detect(): Promise<DetectResult> {
    const version = await this.probe(this.compiler, ["--version"]);
    if (version.spawnError || version.code !== 0)
      return { ok: false, missing: `clang (${this.compiler})`, install: C_INSTALL };
    // clang alone is not enough: linking for wasm32-wasi needs wasi-libc, wasm-ld and the wasm32 builtins
    const link = await this.withScratchDir(async (dir) => {
      await writeFile(join(dir, "probe.c"), '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n');
      return this.probe(this.compiler, [...C_TARGET_FLAGS, ...C_FLAGS, "-o", "probe.wasm", "probe.c"], dir);
    });
    if (link.code !== 0) {
      const why =
        errorTail(link.output)
          .split("\n")
          .find((l) => l.trim() !== "") ?? "";
      return {
        ok: false,
        missing: `the wasm32-wasi sysroot (wasi-libc, lld, libclang-rt-14-dev-wasm32)${why ? `: ${why}` : ""}`,
        install: C_INSTALL,
      };
    }
    return { ok: true, version: version.output.split("\n")[0]?.trim() ?? "clang" };
  }

  protected findEntry(tree: SourceTree): string | undefined {
    const sources = tree.paths.filter((p) => p.endsWith(".c"));
    return sources.length === 1 ? sources[0] : (sources.find((p) => p === "main.c") ?? sources[0]);
  }

  protected plan(tree: SourceTree): BuildPlan {
    const sources = tree.paths.filter((p) => p.endsWith(".c"));
    if (sources.length === 0) throw buildFailed("the source tree has no .c file for the C builder");
    return {
      entry: this.findEntry(tree),
      commands: [
        {
          file: this.compiler,
          args: [...C_TARGET_FLAGS, ...C_FLAGS, "-I.", "-o", "out.wasm", ...sources.map(pathArg)],
        },
      ],
      output: async () => "out.wasm",
    };
  }

  protected toolEnv(): Record<string, string> {
    return {
      CC: `${this.compiler} ${C_TARGET_FLAGS.join(" ")}`,
      CFLAGS: "-O2",
      LDFLAGS: "-s -Wl,-z,stack-size=1048576",
    };
  }
}
