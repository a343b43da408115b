/**
 * Path resolution for the path_* calls: a guest path relative to a directory fd becomes an absolute path of the
 * invocation's filesystem. Symlinks are followed in every component but the last (the last too when asked, or
 * when a trailing slash says it must be a directory); nothing may lead out of the directory fd — an absolute
 * path or symlink, or ".." above it, is ENOTCAPABLE, as in wasmtime.
 */
import { ERRNO, FILETYPE_DIRECTORY, FILETYPE_SYMBOLIC_LINK } from "./constants.js";
import type { WasiContext } from "./context.js";
import { FD_DIR } from "./fd-table.js";
import { readString } from "./memory.js";

/** Symlinks followed in one resolution before ELOOP (Linux's MAXSYMLINKS is 40). */
const MAX_SYMLINK_HOPS = 40;

/** Set by resolve(): the path named a directory explicitly ("a/", "a/."), so a file there is ENOTDIR. */
export let mustBeDir = false;

/**
 * The absolute path `ptr/len` names relative to directory fd `fd`, or an errno. `follow`: a symlink in the last
 * component is followed too (lookupflags SYMLINK_FOLLOW).
 */
export function resolve(
  ctx: WasiContext,
  fd: number,
  ptr: number,
  len: number,
  follow: boolean,
): string | number {
  const dir = ctx.fds.get(fd);
  if (dir === undefined) return ERRNO.BADF;
  if (dir.type !== FD_DIR) return ERRNO.NOTDIR;
  ctx.view();
  const rel = readString(ctx, ptr >>> 0, len >>> 0);
  if (rel === null) return ERRNO.ILSEQ;
  return resolveString(ctx, dir.path, rel, follow);
}

/** resolve() for a path already read from the guest, relative to the absolute directory `base`. */
export function resolveString(ctx: WasiContext, base: string, rel: string, follow: boolean): string | number {
  if (rel.length === 0) return ERRNO.NOENT;
  if (rel.charCodeAt(0) === 47 /* "/" */) return ERRNO.NOTCAPABLE;
  if (rel.includes("\0")) return ERRNO.INVAL;
  const segments = base === "/" ? [] : base.slice(1).split("/");
  const floor = segments.length;
  const parts = rel.split("/");
  const tail = parts[parts.length - 1];
  const trailing = tail === "" || tail === "." || tail === "..";
  let hops = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (segments.length === floor) return ERRNO.NOTCAPABLE;
      segments.pop();
      continue;
    }
    const path = segments.length === 0 ? `/${part}` : `/${segments.join("/")}/${part}`;
    const node = ctx.fs.lookup(path);
    const last = isLast(parts, i);
    if (node?.kind === FILETYPE_SYMBOLIC_LINK && (!last || follow || i < parts.length - 1)) {
      if (++hops > MAX_SYMLINK_HOPS) return ERRNO.LOOP;
      const target = node.target;
      if (target.charCodeAt(0) === 47) return ERRNO.NOTCAPABLE;
      if (target === "") return ERRNO.NOENT;
      parts.splice(i + 1, 0, ...target.split("/"));
      continue;
    }
    if (!last) {
      if (node === null) return ERRNO.NOENT;
      if (node.kind !== FILETYPE_DIRECTORY) return ERRNO.NOTDIR;
    }
    segments.push(part);
  }
  mustBeDir = trailing;
  return `/${segments.join("/")}`;
}

/** True when nothing after parts[i] names another component ("", "." only). */
function isLast(parts: string[], i: number): boolean {
  for (let j = i + 1; j < parts.length; j++) if (parts[j] !== "" && parts[j] !== ".") return false;
  return true;
}
