import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join, posix, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { WasmletError } from "../core/index.js";

// tar-stream is loaded by the first pack or unpack, not with the client: most CLI commands never need it.
const tarStream = async () => (await import("tar-stream")).default;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Largest source archive a package accepts (compressed). */
export const MAX_SOURCE_ARCHIVE_BYTES = 32 * 1024 * 1024;
/** Largest unpacked source tree: bounds a gzip bomb. */
export const MAX_SOURCE_TREE_BYTES = 256 * 1024 * 1024;
export const MAX_SOURCE_FILES = 10_000;

/** Directories never archived from a source directory: VCS data and build outputs. */
const SKIPPED_DIRS = new Set([".git", "node_modules", "target"]);

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function archiveTooLarge(size: number, what = "archive"): WasmletError {
  return new WasmletError(
    "PAYLOAD_TOO_LARGE",
    `${what}: the source archive is ${size > 0 ? mib(size) : "larger than the limit"}, over the ${mib(MAX_SOURCE_ARCHIVE_BYTES)} limit for package sources`,
  );
}

/** Source files by relative POSIX path, sorted, read from a file (one entry) or a directory (its contents). */
export async function readSourceTree(path: string): Promise<Map<string, Uint8Array>> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `--src: cannot read ${path}: ${(e as Error).message}`);
  }
  if (info.isFile()) return new Map([[basename(path), new Uint8Array(await readFile(path))]]);
  const files = new Map<string, Uint8Array>();
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIPPED_DIRS.has(e.name)) await walk(full);
      } else if (e.isFile()) {
        const bytes = new Uint8Array(await readFile(full));
        total += bytes.length;
        if (total > MAX_SOURCE_TREE_BYTES || files.size >= MAX_SOURCE_FILES)
          throw new WasmletError(
            "PAYLOAD_TOO_LARGE",
            `--src: ${path} holds more than ${mib(MAX_SOURCE_TREE_BYTES)} or ${MAX_SOURCE_FILES} files`,
          );
        files.set(relative(path, full).split(sep).join("/"), bytes);
      }
    }
  };
  await walk(path);
  if (files.size === 0) throw new WasmletError("INVALID_ARGUMENT", `--src: ${path} holds no files`);
  return files;
}

/** A tar+gzip archive of `files`; the same files give the same bytes (fixed times, owners and modes). */
export async function packArchive(files: ReadonlyMap<string, Uint8Array>): Promise<Uint8Array> {
  const pack = (await tarStream()).pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c) => chunks.push(c as Buffer));
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const name of [...files.keys()].sort()) {
    const body = Buffer.from(files.get(name) as Uint8Array);
    pack.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, body);
  }
  pack.finalize();
  await done;
  return new Uint8Array(await gzipAsync(Buffer.concat(chunks)));
}

/**
 * The files of a tar+gzip archive by relative path. Regular files only (directories are implied; links and
 * devices are refused), paths normalised; fails with INVALID_ARGUMENT naming the problem, or PAYLOAD_TOO_LARGE
 * past MAX_SOURCE_TREE_BYTES / MAX_SOURCE_FILES.
 */
export async function unpackArchive(archive: Uint8Array): Promise<Map<string, Uint8Array>> {
  let tarBytes: Buffer;
  try {
    tarBytes = await gunzipAsync(archive, { maxOutputLength: MAX_SOURCE_TREE_BYTES + 1024 * 1024 });
  } catch (e) {
    const tooBig = (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
    if (tooBig)
      throw new WasmletError(
        "PAYLOAD_TOO_LARGE",
        `archive: unpacks to more than ${mib(MAX_SOURCE_TREE_BYTES)}`,
      );
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `archive: not a gzip-compressed tar (${(e as Error).message})`,
    );
  }
  const files = new Map<string, Uint8Array>();
  const extract = (await tarStream()).extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c) => chunks.push(c as Buffer));
      stream.on("end", () => {
        const name = posix.normalize(header.name.replace(/^(\.\/)+/, "")).replace(/\/$/, "");
        if (header.type === "file" || header.type === "contiguous-file") {
          if (name.startsWith("/") || name === ".." || name.startsWith("../")) {
            reject(new WasmletError("INVALID_ARGUMENT", `archive: "${header.name}" leaves the source tree`));
            return;
          }
          if (files.size >= MAX_SOURCE_FILES) {
            reject(new WasmletError("PAYLOAD_TOO_LARGE", `archive: more than ${MAX_SOURCE_FILES} files`));
            return;
          }
          files.set(name, new Uint8Array(Buffer.concat(chunks)));
        } else if (header.type !== "directory") {
          reject(
            new WasmletError(
              "INVALID_ARGUMENT",
              `archive: "${header.name}" is a ${header.type}; only regular files are accepted`,
            ),
          );
          return;
        }
        next();
      });
      stream.on("error", reject);
    });
    extract.on("finish", resolve);
    extract.on("error", (e) =>
      reject(new WasmletError("INVALID_ARGUMENT", `archive: not a valid tar (${e.message})`)),
    );
  });
  Readable.from([tarBytes]).pipe(extract);
  await done;
  if (files.size === 0) throw new WasmletError("INVALID_ARGUMENT", "archive: holds no files");
  return files;
}

/**
 * Reads a source file or directory and packs it as a package source archive, refusing one over
 * MAX_SOURCE_ARCHIVE_BYTES with a message that starts with `field` (the CLI flag, or a spec file and field).
 */
export async function packSource(
  path: string,
  field: string,
): Promise<{ bytes: Uint8Array; fileName: string; paths: string[] }> {
  const files = await readSourceTree(path);
  const bytes = await packArchive(files);
  if (bytes.length > MAX_SOURCE_ARCHIVE_BYTES)
    throw new WasmletError(
      "PAYLOAD_TOO_LARGE",
      `${field}: ${path} makes a ${(bytes.length / 1024 / 1024).toFixed(1)} MiB archive, over the ${MAX_SOURCE_ARCHIVE_BYTES / 1024 / 1024} MiB limit for package sources`,
    );
  return { bytes, fileName: basename(resolve(path)), paths: [...files.keys()] };
}
