import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { WasmletError } from "../core/index.js";

/**
 * Checks one path of a source tree and returns it normalised (no `./` segments). A path that could escape
 * the build directory (absolute, `..`, NUL, empty) is rejected, naming the path.
 */
export function checkSourcePath(path: string): string {
  const bad = (why: string): WasmletError =>
    new WasmletError("INVALID_ARGUMENT", `files: "${path}" is not a valid source path (${why})`);
  if (path === "") throw bad("empty");
  if (path.includes("\0")) throw bad("contains NUL");
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) throw bad("absolute");
  const segments = path.split(/[\\/]/).filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw bad("contains ..");
  if (segments.length === 0) throw bad("names no file");
  return segments.join("/");
}

/** The normalised paths of a tree, sorted, so that builders pick entries deterministically. */
export function sourcePaths(files: ReadonlyMap<string, Uint8Array>): string[] {
  return [...files.keys()].map(checkSourcePath).sort();
}

/** A fresh directory holding one build's sources; `dispose` removes it. */
export interface Workspace {
  dir: string;
  dispose(): Promise<void>;
}

export async function createWorkspace(
  files: ReadonlyMap<string, Uint8Array>,
  tmpDir = tmpdir(),
): Promise<Workspace> {
  const entries = [...files].map(([p, bytes]) => [checkSourcePath(p), bytes] as const);
  const dir = await mkdtemp(join(tmpDir, "wasmlet-build-"));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    for (const [path, bytes] of entries) {
      const target = join(dir, path);
      await mkdir(dirname(target), { recursive: true });
      // "wx": a path that is both a file and a directory prefix ("a" and "a/b") fails instead of overwriting
      await writeFile(target, bytes, { flag: "wx" });
    }
  } catch (e) {
    await dispose();
    const err = e as NodeJS.ErrnoException;
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `files: cannot lay out the source tree (${err.code ?? err.message})`,
      {
        cause: e,
      },
    );
  }
  return { dir, dispose };
}

/** Name of the module in its image: the entry's stem, reduced to characters safe in an image path. */
export function moduleFileName(entryPath: string | undefined): string {
  const base = (entryPath ?? "").split("/").pop() ?? "";
  const stem = base
    .replace(/\.[^.]*$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "");
  return `${stem || "main"}.wasm`;
}

/** A path as a command-line argument: one starting with `-` would read as an option. */
export function pathArg(path: string): string {
  return path.startsWith("-") ? `./${path}` : path;
}
