import { posix } from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import tar from "tar-stream";
import {
  type Digest,
  isDigest,
  type LoadedImage,
  matchesDigest,
  PREOPENS_LABEL,
  preopenProblem,
  WasmletError,
} from "../core/index.js";
import { isWasmModule, ZLIB_CHUNK_BYTES } from "./image-build.js";
import {
  type Descriptor,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  MEDIA_TYPES,
  TAR_LAYER_TYPES,
  WASM_LAYER_TYPES,
} from "./media-types.js";

const gunzipAsync = promisify(gunzip);

/** Where loadImage() gets content from; each method returns bytes whose digest it has already verified. */
export interface ContentSource {
  /** Called once per manifest or index on the way to the image; `target` is a tag or a digest. */
  manifest(target: string): Promise<{ bytes: Uint8Array; digest: Digest; mediaType: string }>;
  /** Called for the config and each layer; the bytes match the descriptor's digest and size. */
  blob(desc: Descriptor): Promise<Uint8Array>;
}

/** Platforms a wasm image index may name for a WASI preview1 module. */
const WASM_OSES = new Set(["wasip1", "wasi"]);
const MAX_INDEX_DEPTH = 3;
const MAX_SYMLINK_HOPS = 8;
/** Bound on one layer's uncompressed size, so a gzip bomb fails instead of exhausting memory. */
const MAX_LAYER_BYTES = 1024 ** 3;

interface ImageManifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export function pullError(ref: string, why: string, cause?: unknown): WasmletError {
  return new WasmletError(
    "IMAGE_PULL_FAILED",
    `image ${ref}: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

function parseJson(ref: string, bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    throw pullError(ref, `${what} is not valid JSON`, e);
  }
  throw pullError(ref, `${what} is not a JSON object`);
}

function checkDescriptor(ref: string, d: unknown, what: string): Descriptor {
  const o = d as Descriptor | undefined;
  if (
    !o ||
    typeof o.mediaType !== "string" ||
    typeof o.digest !== "string" ||
    !isDigest(o.digest) ||
    typeof o.size !== "number"
  )
    throw pullError(ref, `${what} is not a valid descriptor (a sha256 or sha512 digest)`);
  return o;
}

/** Picks the wasm entry of an index: architecture `wasm`, os `wasip1` or `wasi`. */
export function selectWasmPlatform(ref: string, index: Record<string, unknown>): Descriptor {
  const list = Array.isArray(index.manifests) ? index.manifests : [];
  const descs = list.map((d, i) => checkDescriptor(ref, d, `index entry ${i}`));
  const hit = descs.find((d) => d.platform?.architecture === "wasm" && WASM_OSES.has(d.platform?.os ?? ""));
  if (hit) return hit;
  const seen = descs.map((d) => `${d.platform?.os ?? "?"}/${d.platform?.architecture ?? "?"}`).join(", ");
  throw pullError(ref, `the image index has no wasm/wasip1 platform entry (it has: ${seen || "none"})`);
}

/** Follows indexes to the wasm platform manifest; returns it parsed with its digest. */
export async function resolveManifest(
  ref: string,
  src: ContentSource,
  target: string,
): Promise<{ digest: Digest; manifest: Record<string, unknown>; mediaType: string }> {
  let next = target;
  for (let depth = 0; depth <= MAX_INDEX_DEPTH; depth++) {
    const got = await src.manifest(next);
    const json = parseJson(ref, got.bytes, "the manifest");
    const mediaType = typeof json.mediaType === "string" ? json.mediaType : got.mediaType;
    if (INDEX_TYPES.has(mediaType) || (Array.isArray(json.manifests) && !json.layers)) {
      next = selectWasmPlatform(ref, json).digest;
      continue;
    }
    return { digest: got.digest, manifest: json, mediaType };
  }
  throw pullError(ref, `image indexes nest deeper than ${MAX_INDEX_DEPTH} levels`);
}

/** Pulls everything an image needs to run and unpacks it (see RegistryClient.pull). */
export async function loadImage(ref: string, src: ContentSource, target: string): Promise<LoadedImage> {
  const { digest, manifest: m, mediaType } = await resolveManifest(ref, src, target);
  if (!IMAGE_MANIFEST_TYPES.has(mediaType) && m.schemaVersion !== 2)
    throw pullError(ref, `manifest media type "${mediaType}" is not an image manifest`);
  const manifest: ImageManifest = {
    config: checkDescriptor(ref, m.config, "the manifest's config"),
    layers: (Array.isArray(m.layers) ? m.layers : []).map((l, i) => checkDescriptor(ref, l, `layer ${i}`)),
  };
  const wasmLayers = manifest.layers.filter((l) => WASM_LAYER_TYPES.has(l.mediaType));
  if (manifest.config.mediaType === MEDIA_TYPES.wasmConfig || wasmLayers.length > 0) {
    // A wasm artifact: the (first) wasm layer is the module itself; Spin's extra layers are not files.
    if (wasmLayers.length === 0) throw pullError(ref, "the wasm artifact has no application/wasm layer");
    const module = await src.blob(wasmLayers[0]);
    if (!isWasmModule(module))
      throw pullError(ref, `layer ${wasmLayers[0].digest} is not a WebAssembly module`);
    const entry = "/module.wasm";
    return { digest, entry, module, files: new Map([[entry, module]]) };
  }
  const config = parseJson(ref, await src.blob(manifest.config), "the image config");
  const diffIds = (config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
  const fs = new Map<string, Node>();
  for (const [i, layer] of manifest.layers.entries()) {
    const kind = TAR_LAYER_TYPES.get(layer.mediaType);
    if (!kind)
      throw pullError(ref, `layer ${i} has media type "${layer.mediaType}", which wasmlet cannot unpack`);
    const raw = await src.blob(layer);
    let tarBytes: Uint8Array;
    try {
      tarBytes = kind.gzip
        ? plainView(await gunzipAsync(raw, { maxOutputLength: MAX_LAYER_BYTES, chunkSize: ZLIB_CHUNK_BYTES }))
        : raw;
    } catch (e) {
      throw pullError(
        ref,
        `layer ${layer.digest} is not valid gzip or unpacks to more than ${MAX_LAYER_BYTES} bytes`,
        e,
      );
    }
    const want = Array.isArray(diffIds) ? diffIds[i] : undefined;
    if (typeof want === "string" && isDigest(want) && !matchesDigest(tarBytes, want))
      throw pullError(ref, `layer ${i}'s uncompressed digest does not match rootfs.diff_ids[${i}] ${want}`);
    await applyLayer(ref, fs, tarBytes);
  }
  const { files, dirs, symlinks } = splitNodes(fs);
  const entry = pickEntry(ref, config, fs);
  return {
    digest,
    entry,
    module: resolveLink(fs, entry)!,
    files,
    dirs,
    symlinks,
    preopens: preopensOf(ref, config),
  };
}

/** The bytes of a Buffer as a plain Uint8Array, without a copy. */
function plainView(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

type Node = { kind: "file"; data: Uint8Array } | { kind: "symlink"; target: string } | { kind: "dir" };

/** The names in the config's PREOPENS_LABEL (wasmlet's `--dir`), or none. */
function preopensOf(ref: string, config: Record<string, unknown>): string[] | undefined {
  const labels = (config.config as { Labels?: Record<string, unknown> } | undefined)?.Labels;
  const raw = labels?.[PREOPENS_LABEL];
  if (raw === undefined) return undefined;
  let names: unknown;
  try {
    names = JSON.parse(String(raw));
  } catch {
    names = undefined;
  }
  if (!Array.isArray(names) || !names.every((n) => typeof n === "string" && preopenProblem(n) === undefined))
    throw pullError(ref, `the config label ${PREOPENS_LABEL} is not a JSON array of directory names`);
  return names as string[];
}

function removeTree(fs: Map<string, Node>, path: string, self: boolean): void {
  const prefix = path === "/" ? "/" : `${path}/`;
  for (const p of [...fs.keys()]) if ((self && p === path) || p.startsWith(prefix)) fs.delete(p);
}

/**
 * umoci 0.4 (Debian's) writes layers that stop right after the last file's data: no padding, no end-of-archive
 * blocks. Go's archive/tar (umoci, containerd) reads them, so wasmlet does too: when every entry's data is
 * whole, the missing zero blocks are added. A layer truncated inside an entry is left as is, and refused.
 */
export function completeTar(b: Uint8Array): Uint8Array {
  if (b.length % 512 === 0) return b;
  for (let off = 0; off + 512 <= b.length; ) {
    const header = b.subarray(off, off + 512);
    if (header.every((x) => x === 0)) return b;
    if ((header[124] & 0x80) !== 0) return b; // base-256 size: not what a small truncated layer holds
    const field = Buffer.from(header.subarray(124, 136)).toString("latin1").replace(/\0.*$/s, "").trim();
    const size = field === "" ? 0 : Number.parseInt(field, 8);
    if (!Number.isSafeInteger(size)) return b;
    const next = off + 512 + Math.ceil(size / 512) * 512;
    if (next >= b.length) {
      if (off + 512 + size > b.length) return b;
      const out = new Uint8Array(next + 1024);
      out.set(b);
      return out;
    }
    off = next;
  }
  return b;
}

/** Applies one layer on top of the lower ones, honouring OCI whiteouts (layer.md, "Whiteouts"). */
async function applyLayer(ref: string, fs: Map<string, Node>, tarBytes: Uint8Array): Promise<void> {
  const entries: { path: string; type: string; data?: Uint8Array; linkname?: string }[] = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const e of extract) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      const h = e.header;
      entries.push({
        path: posix.normalize(`/${h.name}`).replace(/\/+$/, "") || "/",
        type: h.type ?? "file",
        // One chunk (tar-stream's view of the layer) is kept as is: copying it twice cost ~60 MB of garbage for a
        // 30 MB module.
        data: plainView(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)),
        linkname: h.linkname ?? undefined,
      });
    }
  })();
  const whole = completeTar(tarBytes);
  extract.end(Buffer.from(whole.buffer, whole.byteOffset, whole.length));
  try {
    await done;
  } catch (e) {
    throw pullError(ref, "a layer is not a valid tar archive", e);
  }
  // Whiteouts hide lower layers only, whatever their position in this layer: apply them first.
  for (const e of entries) {
    const base = posix.basename(e.path);
    if (base === ".wh..wh..opq") removeTree(fs, posix.dirname(e.path), false);
    else if (base.startsWith(".wh.")) removeTree(fs, posix.join(posix.dirname(e.path), base.slice(4)), true);
  }
  for (const e of entries) {
    if (posix.basename(e.path).startsWith(".wh.") || e.path === "/") continue;
    switch (e.type) {
      case "file":
      case "contiguous-file":
        removeTree(fs, e.path, true);
        fs.set(e.path, { kind: "file", data: e.data ?? new Uint8Array() });
        break;
      case "link": {
        const target = fs.get(posix.normalize(`/${e.linkname ?? ""}`));
        removeTree(fs, e.path, true);
        if (target) fs.set(e.path, target);
        break;
      }
      case "symlink":
        removeTree(fs, e.path, true);
        fs.set(e.path, { kind: "symlink", target: e.linkname ?? "" });
        break;
      case "directory":
        if (fs.get(e.path)?.kind !== "dir") removeTree(fs, e.path, true);
        fs.set(e.path, { kind: "dir" });
        break;
      default: // devices and fifos mean nothing to a wasm module
        break;
    }
  }
}

function resolveLink(fs: Map<string, Node>, path: string): Uint8Array | undefined {
  let p = path;
  for (let hop = 0; hop <= MAX_SYMLINK_HOPS; hop++) {
    const n = fs.get(p);
    if (!n || n.kind === "dir") return undefined;
    if (n.kind === "file") return n.data;
    p = n.target.startsWith("/") ? posix.normalize(n.target) : posix.join(posix.dirname(p), n.target);
  }
  return undefined;
}

/**
 * Regular files, directories and symlinks by path. An absolute symlink target is made relative to the link's
 * directory: the WASI host refuses absolute links (they would leave a preopened directory), and inside the
 * image's "/" the relative form leads to the same place.
 */
function splitNodes(fs: Map<string, Node>): {
  files: Map<string, Uint8Array>;
  dirs: string[];
  symlinks: Map<string, string>;
} {
  const files = new Map<string, Uint8Array>();
  const dirs: string[] = [];
  const symlinks = new Map<string, string>();
  for (const p of [...fs.keys()].sort()) {
    const n = fs.get(p)!;
    if (n.kind === "file") files.set(p, n.data);
    else if (n.kind === "dir") dirs.push(p);
    else if (!n.target.startsWith("/")) symlinks.set(p, n.target);
    else symlinks.set(p, posix.relative(posix.dirname(p), posix.normalize(n.target)) || ".");
  }
  return { files, dirs, symlinks };
}

/** The module crun would run: Entrypoint[0], else Cmd[0], relative to WorkingDir. */
function pickEntry(ref: string, config: Record<string, unknown>, fs: Map<string, Node>): string {
  const c = (config.config ?? {}) as { Entrypoint?: unknown; Cmd?: unknown; WorkingDir?: unknown };
  const first = (v: unknown) => (Array.isArray(v) && typeof v[0] === "string" ? (v[0] as string) : undefined);
  const exe = first(c.Entrypoint) ?? first(c.Cmd);
  if (exe === undefined) {
    const modules = [...fs].filter(([, n]) => n.kind === "file" && isWasmModule(n.data));
    if (modules.length === 1) return modules[0][0];
    throw pullError(
      ref,
      "the image config names no Entrypoint or Cmd, and the image has no single wasm module",
    );
  }
  const cwd = typeof c.WorkingDir === "string" && c.WorkingDir.startsWith("/") ? c.WorkingDir : "/";
  const entry = posix.resolve(cwd, exe);
  const data = resolveLink(fs, entry);
  if (!data) throw pullError(ref, `the entrypoint ${entry} is not a file in the image`);
  if (!isWasmModule(data)) throw pullError(ref, `the entrypoint ${entry} is not a WebAssembly module`);
  return entry;
}
