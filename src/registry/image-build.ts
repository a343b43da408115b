import { createHash } from "node:crypto";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { posix } from "node:path";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import { type Digest, type ImageFormat, PREOPENS_LABEL, sha256Digest, WasmletError } from "../core/index.js";
import { type Arrival, makeLargeLayer } from "./large-layer.js";
import {
  type Descriptor,
  MEDIA_TYPES,
  WASM_VARIANT_ANNOTATION,
  WASM_VARIANT_COMPAT_SMART,
} from "./media-types.js";

/**
 * gzip level 1: a 30 MB module compressed 2.3x faster than at the default level 6 (0.48 s instead of 0.97 s
 * here) into a layer 6 % larger, and the layer is on the path from `fn create` to the first answer.
 */
const GZIP_LEVEL = 1;
/**
 * Layers whose tar is this large are not compressed: an uncompressed tar layer (`application/vnd.oci.image.layer.v1.tar`,
 * which OCI runtimes, containerd, skopeo and umoci read), hashed off the caller's thread (large-layer.ts) while
 * it goes on. For a 30 MB module, gzip level 1 took ~400 ms of CPU here (1.3-1.5 s of wall time on the loaded
 * 2-core machine) for a layer of 17.4 MB instead of 31.6 MB, on the path from `fn create` to the first answer;
 * a stored (level 0) gzip member, as these layers were before, still cost a CRC-32 (15 ms) and a second sha256 (28
 * ms: the member's beside the tar's diff_id). Uncompressed, the layer's digest is its diff_id: one hash.
 */
export const LARGE_LAYER_MIN_BYTES = 4 * 1024 * 1024;
/**
 * zlib's output in 1 MiB pieces (not 16 KiB): each piece is a mapping of its own that goes back to the OS when
 * freed, where thousands of 16 KiB pieces were left as holes in malloc's heap (bench large: ~70 MiB of a deleted
 * 30 MB module's deploy stayed with the process).
 */
export const ZLIB_CHUNK_BYTES = 1024 * 1024;

/** A manifest and the blobs it references, ready to push (or just built). */
export interface ImageBundle {
  /** The manifest bytes exactly as pushed: its digest is the image's identity. */
  manifest: Uint8Array;
  manifestDigest: Digest;
  /** Media type of the manifest (the `Content-Type` it is pushed with). */
  mediaType: string;
  /** Config and layer blobs by digest; a staged one's bytes are empty (STAGED): its file holds them. */
  blobs: Map<Digest, Uint8Array>;
  /**
   * Blobs already written, fsynced, to files of the embedded store's staging directory (`stageDir`): a local push
   * renames them into place instead of writing them; anything else that drops the bundle removes them
   * (`discardStaged`).
   */
  staged?: Map<Digest, string>;
}

export interface BuildImageOptions {
  /** Files of the image's root filesystem: absolute path → bytes. */
  files: ReadonlyMap<string, Uint8Array>;
  /** Directories to create even when empty (compat-smart only). */
  dirs?: readonly string[];
  /** Symbolic links: absolute path → target (compat-smart only). */
  symlinks?: ReadonlyMap<string, string>;
  /** Names of directories preopened beside "/", kept in the config's PREOPENS_LABEL (compat-smart only). */
  preopens?: readonly string[];
  /** Path of the wasm module that runs; must be a key of `files`. */
  entry: string;
  /** `compat-smart` (default): a runnable OCI image crun's wasm handler accepts; `wasm-artifact`: CNCF wasm artifact. */
  format?: ImageFormat;
  /** Function arguments, stored as the config's `Cmd` (compat-smart only). */
  args?: string[];
  /** `KEY=VALUE` strings, stored as the config's `Env` (compat-smart only). */
  env?: string[];
  /** Extra manifest annotations. */
  annotations?: Record<string, string>;
  /**
   * The embedded store's staging directory (ImageStore.stagingDir): a large layer is written there as it is made
   * (see ImageBundle.staged), so a push of it to that store is a rename.
   */
  stageDir?: string;
  /**
   * Files whose bytes are still arriving (views of `arriving.buffer`): the layer, which must be large
   * (LARGE_LAYER_MIN_BYTES), is made as they come. The entry's first 8 bytes must be there (its magic is checked
   * at once).
   */
  arriving?: Arrival;
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];
/** Every timestamp in a built image: the same files must give the same digest on any day. */
const EPOCH = new Date(0);
const EPOCH_ISO = "1970-01-01T00:00:00Z";

export function isWasmModule(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && WASM_MAGIC.every((b, i) => bytes[i] === b);
}

function checkPath(p: string): string {
  if (typeof p !== "string" || !p.startsWith("/") || p === "/" || posix.normalize(p) !== p || p.endsWith("/"))
    throw new WasmletError("INVALID_ARGUMENT", `files: "${p}" is not a normalized absolute file path`);
  return p;
}

/** Builds the image a function runs from. Same inputs → same bytes → same manifest digest. */
export async function buildImage(opts: BuildImageOptions): Promise<ImageBundle> {
  const format = opts.format ?? "compat-smart";
  for (const p of opts.files.keys()) checkPath(p);
  const module = opts.files.get(opts.entry);
  if (module === undefined)
    throw new WasmletError("INVALID_ARGUMENT", `entry: "${opts.entry}" is not one of the image's files`);
  if (!isWasmModule(module))
    throw new WasmletError(
      "INVALID_MODULE",
      `entry: "${opts.entry}" is not a WebAssembly module (bad magic)`,
    );
  for (const p of opts.dirs ?? []) checkPath(p);
  for (const p of opts.symlinks?.keys() ?? []) checkPath(p);
  if (format === "wasm-artifact") {
    if (opts.files.size !== 1 || opts.dirs?.length || opts.symlinks?.size || opts.preopens?.length)
      throw new WasmletError("INVALID_ARGUMENT", "files: a wasm-artifact image holds only the entry module");
    return buildWasmArtifact(module, opts.annotations);
  }
  if (format !== "compat-smart")
    throw new WasmletError("INVALID_ARGUMENT", `format: "${format}" is not known`);
  return buildCompatSmart(opts);
}

async function buildCompatSmart(opts: BuildImageOptions): Promise<ImageBundle> {
  // The tar stays in the pieces tar-stream made (the files' own buffers among them): a small one is hashed and
  // compressed piece by piece, a large one hashed and written out piece by piece (large-layer.ts); never joined
  // for a staged layer (for a 30 MB module, a 30 MB copy less, and less garbage).
  const tarPieces = await deterministicTar(opts);
  let tarBytes = 0;
  for (const piece of tarPieces) tarBytes += piece.byteLength;
  const large = tarBytes >= LARGE_LAYER_MIN_BYTES;
  if (opts.arriving && !large)
    throw new WasmletError(
      "INTERNAL",
      "files still arriving need a large layer: a small one is made at once",
    );
  const layer = large
    ? await makeLargeLayer(tarPieces, opts.stageDir, opts.arriving).then((l) => ({
        ...l,
        layer: l.layer ?? STAGED,
        diffId: l.digest,
      }))
    : await gzipLayer(tarPieces);
  const config: Record<string, unknown> = {
    created: EPOCH_ISO,
    architecture: "wasm",
    os: "wasip1",
    config: {
      Entrypoint: [opts.entry],
      ...(opts.args?.length ? { Cmd: [...opts.args] } : {}),
      ...(opts.env?.length ? { Env: [...opts.env] } : {}),
      ...(opts.preopens?.length ? { Labels: { [PREOPENS_LABEL]: JSON.stringify(opts.preopens) } } : {}),
    },
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
  };
  const bundle = assemble(
    MEDIA_TYPES.config,
    config,
    [
      {
        mediaType: large ? MEDIA_TYPES.layerTar : MEDIA_TYPES.layerTarGzip,
        bytes: layer.layer,
        digest: layer.digest,
        size: layer.size,
      },
    ],
    { [WASM_VARIANT_ANNOTATION]: WASM_VARIANT_COMPAT_SMART, ...opts.annotations },
  );
  if (layer.staged) bundle.staged = new Map([[layer.digest, layer.staged]]);
  return bundle;
}

/** Removes the staged files of a bundle that will not be pushed to the embedded store (see ImageBundle.staged). */
export async function discardStaged(bundle: ImageBundle): Promise<void> {
  const staged = bundle.staged;
  bundle.staged = undefined;
  await Promise.all([...(staged?.values() ?? [])].map((f) => rm(f, { force: true })));
}

/** A small layer: gzip level 1 through zlib (its work on libuv's threads), hashed here. */
async function gzipLayer(
  tarPieces: readonly Uint8Array[],
): Promise<{ layer: Uint8Array; size: number; digest: Digest; diffId: Digest; staged?: string }> {
  const diffId = createHash("sha256");
  const gzip = createGzip({ level: GZIP_LEVEL, chunkSize: ZLIB_CHUNK_BYTES });
  const gzPieces: Buffer[] = [];
  gzip.on("data", (c: Buffer) => gzPieces.push(c));
  const compressed = once(gzip, "end");
  for (const piece of tarPieces) {
    diffId.update(piece);
    gzip.write(piece);
  }
  gzip.end();
  await compressed;
  const gz = Buffer.concat(gzPieces);
  const layer = new Uint8Array(gz.buffer, gz.byteOffset, gz.byteLength);
  return {
    layer,
    size: layer.byteLength,
    diffId: `sha256:${diffId.digest("hex")}`,
    digest: sha256Digest(layer),
  };
}

function buildWasmArtifact(module: Uint8Array, annotations?: Record<string, string>): Promise<ImageBundle> {
  const layerDigest = sha256Digest(module);
  const config = { created: EPOCH_ISO, architecture: "wasm", os: "wasip1", layerDigests: [layerDigest] };
  return Promise.resolve(
    assemble(
      MEDIA_TYPES.wasmConfig,
      config,
      [{ mediaType: MEDIA_TYPES.wasmLayer, bytes: module }],
      annotations,
    ),
  );
}

function assemble(
  configType: string,
  config: unknown,
  layers: { mediaType: string; bytes: Uint8Array; digest?: Digest; size?: number }[],
  annotations?: Record<string, string>,
): ImageBundle {
  const blobs = new Map<Digest, Uint8Array>();
  const describe = (mediaType: string, bytes: Uint8Array, known?: Digest, size?: number): Descriptor => {
    const digest = known ?? sha256Digest(bytes);
    blobs.set(digest, bytes);
    return { mediaType, digest, size: size ?? bytes.length };
  };
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: describe(configType, configBytes),
    layers: layers.map((l) => describe(l.mediaType, l.bytes, l.digest, l.size)),
  };
  if (annotations && Object.keys(annotations).length > 0) manifest.annotations = sortKeys(annotations);
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
  const bundle: ImageBundle = {
    manifest: manifestBytes,
    manifestDigest: sha256Digest(manifestBytes),
    mediaType: MEDIA_TYPES.manifest,
    blobs,
  };
  BUILT_HERE.add(bundle);
  return bundle;
}

/**
 * The bytes a staged blob has in `ImageBundle.blobs`: none (its file in `staged` holds them; a push to the
 * embedded store renames it, RegistryClient.push reads it).
 */
export const STAGED = new Uint8Array(0);

/** Bundles `buildImage` made in this process: every digest in them was computed from the bytes they hold. */
const BUILT_HERE = new WeakSet<ImageBundle>();

/**
 * True when `bundle` was made by `buildImage` in this process, so its digests need no check before a push (a
 * second hash of a 30 MB layer cost ~28 ms of the request thread on create's path). Its bytes are never written
 * after (images are immutable; the runtime copies on write).
 */
export function builtHere(bundle: ImageBundle): boolean {
  return BUILT_HERE.has(bundle);
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A tar with sorted entries, parent directories, epoch mtimes and root ownership, as the pieces of its bytes. */
async function deterministicTar(opts: BuildImageOptions): Promise<Uint8Array[]> {
  const { files, entry } = opts;
  const symlinks = opts.symlinks ?? new Map<string, string>();
  const dirs = new Set<string>(opts.dirs);
  for (const p of [...files.keys(), ...symlinks.keys(), ...dirs]) {
    for (let d = posix.dirname(p); d !== "/"; d = posix.dirname(d)) dirs.add(d);
  }
  const entries = [
    ...[...dirs].map((d) => ({ path: d, kind: "dir" as const })),
    ...[...files.keys()].map((p) => ({ path: p, kind: "file" as const })),
    ...[...symlinks.keys()].map((p) => ({ path: p, kind: "symlink" as const })),
  ];
  // Byte order, not locale order: the digest must not depend on the machine's collation.
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < entries.length; i++)
    if (entries[i].path === entries[i - 1].path)
      throw new WasmletError("INVALID_ARGUMENT", `files: "${entries[i].path}" is given twice`);
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Uint8Array);
  })();
  const common = { mtime: EPOCH, uid: 0, gid: 0, uname: "", gname: "" };
  for (const e of entries) {
    const name = e.path.slice(1);
    if (e.kind === "dir") pack.entry({ ...common, name: `${name}/`, type: "directory", mode: 0o755 });
    else if (e.kind === "symlink")
      pack.entry({ ...common, name, type: "symlink", mode: 0o777, linkname: symlinks.get(e.path)! });
    else {
      const bytes = files.get(e.path)!;
      pack.entry(
        {
          ...common,
          name,
          type: "file",
          mode: e.path === entry || e.path.endsWith(".wasm") ? 0o755 : 0o644,
          size: bytes.length,
        },
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length),
      );
    }
  }
  pack.finalize();
  await done;
  return chunks;
}
