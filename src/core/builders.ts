/**
 * The toolchains wasmlet can compile a source package with, and the file extensions each claims. The one source
 * of these names: the builders (build/), the API and the CLI (which picks a builder from file names before it
 * uploads, without loading any builder) read them from here.
 */
export const BUILDER_SOURCES = {
  assemblyscript: [".ts"],
  c: [".c"],
  rust: [".rs"],
} as const satisfies Record<string, readonly string[]>;

export type BuilderName = keyof typeof BUILDER_SOURCES;
export const BUILDER_NAMES = Object.keys(BUILDER_SOURCES) as BuilderName[];

/** The builder whose extensions claim `fileName` (".c" → c), or undefined; `.d.ts` files are not sources. */
export function builderForFile(fileName: string): BuilderName | undefined {
  const lower = fileName.toLowerCase();
  if (lower.endsWith(".d.ts")) return undefined;
  return BUILDER_NAMES.find((b) => BUILDER_SOURCES[b].some((ext) => lower.endsWith(ext)));
}

/** The builder a source tree calls for: rust when it has a Cargo.toml, else the first claimed file (sorted). */
export function builderForSource(paths: readonly string[]): BuilderName | undefined {
  if (paths.some((p) => p === "Cargo.toml")) return "rust";
  for (const p of [...paths].sort()) {
    const b = builderForFile(p);
    if (b) return b;
  }
  return undefined;
}
