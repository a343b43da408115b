import { AssemblyScriptBuilder } from "./assemblyscript-builder.js";
import { CBuilder } from "./c-builder.js";
import { RustBuilder } from "./rust-builder.js";
import { builderForFile as builderNameForFile } from "../core/index.js";
import type { Builder, BuilderName } from "./types.js";

export {
  ASSEMBLYSCRIPT_INSTALL,
  AssemblyScriptBuilder,
  type AssemblyScriptBuilderOptions,
} from "./assemblyscript-builder.js";
export { BuildQueue, type BuildQueueOptions } from "./build-queue.js";
export { C_INSTALL, CBuilder } from "./c-builder.js";
export { RUST_INSTALL, RustBuilder, type RustBuilderOptions } from "./rust-builder.js";
export * from "./types.js";
export { checkSourcePath } from "./workspace.js";

/** One builder per toolchain, with default options (toolchains found on PATH / in wasmlet's node_modules). */
export const BUILDERS = {
  assemblyscript: new AssemblyScriptBuilder(),
  c: new CBuilder(),
  rust: new RustBuilder(),
} satisfies Record<BuilderName, Builder>;

/** The builder whose extensions claim `fileName` (".c" → c), or undefined; `.d.ts` files are not sources. */
export function builderForFile(fileName: string): Builder | undefined {
  const name = builderNameForFile(fileName);
  return name && BUILDERS[name];
}
