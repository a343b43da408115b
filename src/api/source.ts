import {
  type Digest,
  type FunctionVersion,
  type ImageFormat,
  isWasmletError,
  preopenPath,
  toWasmletError,
  WasmletError,
} from "../core/index.js";
import {
  type Arrival,
  discardStaged,
  formatReference,
  type ImageBundle,
  parseReference,
} from "../registry/index.js";
import {
  type CappedModule,
  compileCapped,
  isComponent,
  LAZY_COMPILE_MIN_BYTES,
  type ModuleInfo,
} from "../wasm/index.js";
import type { ApiDeps } from "./deps.js";
import type { DirInput } from "./schemas.js";

/** Where a new version's module comes from: uploaded bytes, or an image someone else pushed. */
export interface VersionSource {
  /** The module, base64 (a JSON body). */
  code?: string;
  /** The module's bytes as uploaded (a multipart body's `code` part); when set, `code` is only a placeholder. */
  module?: Uint8Array;
  /** `module` compiled as it arrived (api/EarlyCompile), if it was; used when its cap is the function's. */
  compiled?: Promise<CappedModule | undefined>;
  /** The image made as `module` arrived (earlyImage), if it was; used when nothing else goes into the image. */
  built?: EarlyImage;
  fileName?: string;
  image?: string;
  /** Extra files of the built image (code only): absolute path → base64. */
  files?: Record<string, string>;
  /** Preopened directories and their contents (code only). */
  dirs?: DirInput[];
  format?: ImageFormat;
}

/** Checks an image reference's syntax up front, so a typo fails before any network work. */
export function checkImageReference(ref: string): void {
  try {
    parseReference(ref);
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `image: ${toWasmletError(e).message}`);
  }
}

/** 64 KiB wasm pages per MiB: the runtime caps memory at `limits.memoryMiB * 16` pages. */
export const PAGES_PER_MIB = 16;

const pagesInMiB = (pages: number): string => `${pages} pages = ${pages / PAGES_PER_MIB} MiB`;

/**
 * Why a module with `initialPages` of memory cannot run under a cap of `memoryMiB`, or undefined: its
 * instantiation would fail on every call.
 */
export function memoryProblem(initialPages: number, memoryMiB: number): string | undefined {
  if (initialPages <= memoryMiB * PAGES_PER_MIB) return undefined;
  return `the module's initial memory (${pagesInMiB(initialPages)}) is over the function's memory cap, limits.memoryMiB = ${memoryMiB}; raise limits.memoryMiB to at least ${Math.ceil(initialPages / PAGES_PER_MIB)} or link the module with less initial memory`;
}

/**
 * Inspects a module and checks that it fits the memory cap it will run under; errors name `field`. A large core
 * module (LAZY_COMPILE_MIN_BYTES) is validated by compiling it, lazily and capped as the runtime first runs it,
 * and comes back compiled: this process's runtime then runs it without compiling it again.
 */
function inspect(
  deps: ApiDeps,
  bytes: Uint8Array,
  field: string,
  memoryMiB: number,
  early?: CappedModule,
): { info: ModuleInfo; compiled?: CappedModule } {
  const large = bytes.byteLength >= LAZY_COMPILE_MIN_BYTES && !isComponent(bytes);
  try {
    const info = deps.inspectModule(bytes, large ? { validate: false } : undefined);
    const problem = memoryProblem(info.memory.initialPages, memoryMiB);
    if (problem) throw new WasmletError("INVALID_MODULE", problem);
    if (!large) return { info };
    const pages = memoryMiB * PAGES_PER_MIB;
    return { info, compiled: early?.maxMemoryPages === pages ? early : compileCapped(bytes, pages) };
  } catch (e) {
    const err = toWasmletError(e, "INVALID_MODULE");
    throw new WasmletError(err.code, `${field}: ${err.message}`, { cause: e });
  }
}

/** The errno code (ECONNREFUSED...) or, failing that, the innermost message of a cause chain: "fetch failed" says too little. */
function rootCause(e: unknown): string | undefined {
  let innermost: string | undefined;
  for (
    let c = e, depth = 0;
    c instanceof Object && depth < 6;
    c = (c as { cause?: unknown }).cause, depth++
  ) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    if (c instanceof Error) innermost = c.message;
  }
  return innermost;
}

/** A registry that answered "no such repository/manifest" makes a 404; anything else a 400 naming the reason. */
function pullError(ref: string, e: unknown): WasmletError {
  let reason = toWasmletError(e).message;
  const root = rootCause(e);
  if (root && !reason.includes(root)) reason += ` (${root})`;
  const unknown = isWasmletError(e, "NOT_FOUND") || /\b404\b|_UNKNOWN\b/.test(reason);
  return new WasmletError(
    unknown ? "NOT_FOUND" : "INVALID_ARGUMENT",
    `image: cannot pull ${ref}: ${reason}`,
    {
      cause: e,
    },
  );
}

/** An image being built while its module still arrives (earlyImage). */
export interface EarlyImage {
  entry: string;
  /** The module: a view of the upload's shared memory, its bytes arriving. */
  module: Uint8Array;
  bundle: Promise<ImageBundle>;
  /** Taken by makeVersion (which then owns its staged layer). */
  used?: boolean;
}

/**
 * Starts building the image of a function whose fields are `fields` (a multipart body's `function` part) and
 * whose module is `module`, still arriving (`arrival`): the layer is made as its bytes come (registry Arrival),
 * so that a large module's image is ready about when its upload ends. Only for the image makeVersion would make
 * of the module alone (no `files`, `dirs` or `image`, the default format); undefined otherwise.
 */
export function earlyImage(
  deps: ApiDeps,
  name: string | undefined,
  fields: unknown,
  module: Uint8Array,
  arrival: Arrival,
): EarlyImage | undefined {
  if (typeof fields !== "object" || fields === null || name === undefined) return undefined;
  const f = fields as Record<string, unknown>;
  if (f.files !== undefined || f.dirs !== undefined || f.image !== undefined || f.code !== undefined)
    return undefined;
  if (f.format !== undefined && f.format !== "compat-smart") return undefined;
  if (f.fileName !== undefined && typeof f.fileName !== "string") return undefined;
  const entry = `/${(f.fileName as string | undefined) ?? `${name}.wasm`}`;
  const bundle = deps.buildImage({
    files: new Map([[entry, module]]),
    entry,
    ...dirTree([], new Map()),
    arriving: arrival,
  });
  bundle.catch(() => {});
  return { entry, module, bundle };
}

/** Drops an image earlyImage started and nobody took: its staged layer is removed once it is made. */
export function discardEarlyImage(image: EarlyImage): void {
  if (image.used) return;
  image.used = true;
  void image.bundle.then(discardStaged, () => {});
}

/**
 * Makes the image of a new version and pins it to a digest: uploaded code is inspected, packaged and pushed to
 * `<registryHost>/functions/<name>:v<version>`; an image reference is resolved, pulled once by digest and
 * inspected. Either module must fit `memoryMiB`, the memory cap the function will have. Nothing is stored
 * here; a failure leaves no trace but (for code) an unreferenced tag.
 */
export async function makeVersion(
  deps: ApiDeps,
  name: string,
  version: number,
  src: VersionSource,
  memoryMiB: number,
): Promise<FunctionVersion> {
  const createdAt = new Date().toISOString();
  if (src.code !== undefined) {
    const bytes = src.module ?? new Uint8Array(Buffer.from(src.code, "base64"));
    const entry = `/${src.fileName ?? `${name}.wasm`}`;
    const files = new Map([[entry, bytes]]);
    for (const [path, b64] of Object.entries(src.files ?? {})) {
      if (path === entry)
        throw new WasmletError("INVALID_ARGUMENT", `files: "${path}" is the module's own path`);
      if (path.startsWith(`${entry}/`))
        throw new WasmletError(
          "INVALID_ARGUMENT",
          `files: "${path}" needs "${entry}" to be a directory, but that is the module's own path`,
        );
      files.set(path, new Uint8Array(Buffer.from(b64, "base64")));
    }
    const tree = dirTree(src.dirs ?? [], files);
    // The image is built while the module is checked: a large one's layer is hashed and written on libuv's threads
    // (registry/large-layer.ts) as this one compiles the module. The tar is laid out and handed over in the
    // event loop's current turn, hence the yield before the check; a module the check refuses drops the image.
    // Built as the module arrived when nothing but the module goes into the image (earlyImage); else now.
    const early = src.built;
    const plain =
      files.size === 1 && tree.dirs.length === 0 && (src.format ?? "compat-smart") === "compat-smart";
    let building: Promise<ImageBundle>;
    if (early && !early.used && plain && early.entry === entry && sameView(early.module, bytes)) {
      early.used = true;
      building = early.bundle;
    } else {
      if (early) discardEarlyImage(early);
      building = deps.buildImage({ files, entry, format: src.format, ...tree });
    }
    building.catch(() => {});
    await new Promise((r) => setImmediate(r));
    let checked: ReturnType<typeof inspect>;
    try {
      // Compiled as it arrived, usually done by now; if not (or not under this cap), compiled here.
      checked = inspect(deps, bytes, "code", memoryMiB, await src.compiled);
    } catch (e) {
      void building.then(discardStaged, () => {});
      throw e;
    }
    const { info, compiled } = checked;
    const bundle = await building;
    const image = `${deps.registryHost}/functions/${name}:v${version}`;
    // A wasm artifact is loaded as `/module.wasm` whatever its name: only the default image format is handed over.
    const content =
      (src.format ?? "compat-smart") === "compat-smart"
        ? {
            entry,
            module: bytes,
            files,
            dirs: tree.dirs,
            symlinks: tree.symlinks,
            preopens: tree.preopens,
            compiled,
          }
        : undefined;
    const digest = await deps.registry.push(image, bundle, content);
    const made = versionOf(info, { version, image, digest, createdAt });
    if (tree.preopens.length > 0) made.dirs = tree.preopens;
    return made;
  }
  const ref = src.image;
  if (ref === undefined)
    throw new WasmletError("INVALID_ARGUMENT", "code: exactly one of code or image is required");
  checkImageReference(ref);
  let digest: Digest;
  try {
    digest = await deps.registry.resolve(ref);
  } catch (e) {
    throw pullError(ref, e);
  }
  let module: Uint8Array;
  try {
    module = (await deps.registry.pull(formatReference({ ...parseReference(ref), digest }))).module;
  } catch (e) {
    throw pullError(ref, e);
  }
  const { info } = inspect(deps, module, `image: ${ref}`, memoryMiB);
  return versionOf(info, { version, image: ref, digest, createdAt });
}

/** Whether `a` and `b` view the same bytes of the same buffer. */
export function sameView(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength;
}

/** A version record: a module's initial memory, or a component's world. */
function versionOf(
  info: ModuleInfo,
  v: Pick<FunctionVersion, "version" | "image" | "digest" | "createdAt">,
): FunctionVersion {
  if (info.component) return { ...v, world: info.component.world };
  return { ...v, initialMemoryPages: info.memory.initialPages };
}

/**
 * The image paths of the preopened directories' contents, added to `files` (absolute path → bytes), with their
 * directories, symlinks and names. Fails naming the field when two entries need the same path or a file would
 * have to be a directory.
 */
function dirTree(
  dirs: DirInput[],
  files: Map<string, Uint8Array>,
): { dirs: string[]; symlinks: Map<string, string>; preopens: string[] } {
  const out = { dirs: [] as string[], symlinks: new Map<string, string>(), preopens: [] as string[] };
  const taken = new Map<string, string>([...files.keys()].map((p) => [p, `files: "${p}"`]));
  const claim = (path: string, what: string, leaf: boolean): void => {
    const other = taken.get(path);
    if (other !== undefined && (leaf || !other.endsWith("(directory)")))
      throw new WasmletError("INVALID_ARGUMENT", `${what}: ${path} is already ${other}`);
    taken.set(path, leaf ? what : `${what} (directory)`);
  };
  for (const [i, d] of dirs.entries()) {
    const base = preopenPath(d.name);
    const field = `dirs[${i}]`;
    const at = (rel: string): string => `${base}/${rel}`;
    claim(base, `${field}.name`, false);
    out.dirs.push(base);
    out.preopens.push(d.name);
    for (const rel of d.directories ?? []) {
      claim(at(rel), `${field}.directories`, false);
      out.dirs.push(at(rel));
    }
    for (const [rel, b64] of Object.entries(d.files ?? {})) {
      claim(at(rel), `${field}.files["${rel}"]`, true);
      files.set(at(rel), new Uint8Array(Buffer.from(b64, "base64")));
    }
    for (const [rel, target] of Object.entries(d.symlinks ?? {})) {
      claim(at(rel), `${field}.symlinks["${rel}"]`, true);
      out.symlinks.set(at(rel), target);
    }
  }
  // A file (or link) where another entry needs a directory.
  for (const path of taken.keys())
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      const above = taken.get(path.slice(0, i));
      if (above !== undefined && !above.endsWith("(directory)"))
        throw new WasmletError(
          "INVALID_ARGUMENT",
          `${taken.get(path)}: ${path} needs ${path.slice(0, i)} to be a directory, but it is ${above}`,
        );
    }
  return out;
}
