import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { UpdateFunctionInput } from "../client/index.js";
import { preopenProblem, WasmletError } from "../core/index.js";

type DirInput = NonNullable<UpdateFunctionInput["dirs"]>[number];

/** Most files one `--dir` may carry (they travel base64 in one API request). */
const MAX_DIR_ENTRIES = 10_000;

/**
 * `--dir LOCAL[::GUEST]` (wasmtime's syntax) → the API's `dirs` entry: LOCAL's files, subdirectories and
 * symlinks, preopened under GUEST (default: LOCAL as given).
 */
export function readDirOption(spec: string): DirInput {
  const sep = spec.indexOf("::");
  const local = sep < 0 ? spec : spec.slice(0, sep);
  const name = sep < 0 ? spec : spec.slice(sep + 2);
  if (local === "") throw new WasmletError("INVALID_ARGUMENT", `--dir: "${spec}" names no local directory`);
  const problem = preopenProblem(name);
  if (problem)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--dir: guest name "${name}" ${problem}${sep < 0 ? `; name it with --dir ${local}::NAME` : ""}`,
    );
  const fail = (why: string): never => {
    throw new WasmletError("INVALID_ARGUMENT", `--dir: ${why}`);
  };
  try {
    if (!lstatSync(local).isDirectory()) fail(`${local} is not a directory`);
  } catch (e) {
    if (e instanceof WasmletError) throw e;
    fail(`cannot read ${local}: ${(e as Error).message}`);
  }
  const out: Required<Omit<DirInput, "name">> = { files: {}, symlinks: {}, directories: [] };
  let count = 0;
  const walk = (dir: string, rel: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      if (++count > MAX_DIR_ENTRIES) fail(`${local} holds more than ${MAX_DIR_ENTRIES} entries`);
      const full = join(dir, entry.name);
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymbolicLink()) {
        const target = readlinkSync(full);
        if (target.startsWith("/"))
          fail(`${full} links to the absolute path ${target}, which a preopened directory cannot follow`);
        out.symlinks[path] = target;
      } else if (entry.isDirectory()) {
        out.directories.push(path);
        walk(full, path);
      } else if (entry.isFile()) {
        out.files[path] = readFileSync(full).toString("base64");
      }
      // Sockets, fifos and devices mean nothing inside an image: skipped.
    }
  };
  try {
    walk(local, "");
  } catch (e) {
    if (e instanceof WasmletError) throw e;
    fail(`cannot read ${local}: ${(e as Error).message}`);
  }
  return { name, ...out };
}
