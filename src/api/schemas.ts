import { z } from "zod";
import { CONTRACT_NAMES, HEALTH_PATH, HTTP_METHODS, NAME_RE, WasmletError } from "../core/index.js";

/** Error text for a field: "is required" when absent, else what it must be. */
const must = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? "is required" : what);

const badName = (iss: { input?: unknown }) =>
  iss.input === undefined
    ? "is required"
    : `${JSON.stringify(iss.input)} is not a valid name (use 1-63 characters from [a-z0-9-], starting and ending with a letter or digit)`;
export const nameSchema = z.string({ error: badName }).regex(NAME_RE, { error: badName });

const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A file name inside the image root: no directories, ends in .wasm. */
const FILE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.wasm$/;

const positiveInt = (max: number) =>
  z
    .int({ error: must("must be a positive integer") })
    .positive({ error: "must be a positive integer" })
    .max(max, { error: `must be at most ${max}` });

const limitsSchema = z.strictObject(
  {
    timeoutMs: positiveInt(3_600_000).optional(),
    // wasm32 linear memory cannot pass 4 GiB.
    memoryMiB: positiveInt(4096).optional(),
    maxBodyBytes: positiveInt(1024 * 1024 * 1024).optional(),
    concurrency: positiveInt(10_000).optional(),
    queue: z
      .int({ error: must("must be a whole number >= 0") })
      .min(0, { error: "must be a whole number >= 0" })
      .max(100_000, { error: "must be at most 100000" })
      .optional(),
    maxOutputBytes: positiveInt(1024 * 1024 * 1024).optional(),
  },
  { error: must("must be an object") },
);

export const IMAGE_FORMATS = ["compat-smart", "wasm-artifact"] as const;

/** Why a path is not acceptable for a file in a function's image, or undefined. */
export function filePathProblem(p: string): string | undefined {
  if (!p.startsWith("/")) return "must be an absolute path";
  if (p.endsWith("/")) return "must name a file, not a directory";
  if (p.split("/").some((s) => s === ".." || s === ".")) return 'must not contain "." or ".." segments';
  if (p.includes("//")) return "must not contain empty segments (//)";
  if (/[\u0000-\u001f]/.test(p)) return "must not contain control characters";
  return undefined;
}

/** A path of `paths` that needs another of them to be a directory, with that one, for each such pair. */
function filesUnderFiles(paths: string[]): { path: string; file: string }[] {
  const set = new Set(paths);
  const found: { path: string; file: string }[] = [];
  for (const path of paths)
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1))
      if (set.has(path.slice(0, i))) found.push({ path, file: path.slice(0, i) });
  return found;
}

/** argv and environ entries are C strings for the guest: a NUL would cut them (the WASI host refuses them). */
const cString = z
  .string({ error: "must be a string" })
  .refine((s) => !s.includes("\0"), { error: "must not contain NUL (\\0) characters" });

/** Fields of a function's settings and version source (shared with package-bound function drafts). */
export const functionFields = {
  contract: z.enum(CONTRACT_NAMES, { error: `must be one of ${CONTRACT_NAMES.join(", ")}` }).optional(),
  args: z.array(cString, { error: "must be an array of strings" }).optional(),
  env: z
    .record(
      z.string().regex(ENV_KEY_RE, { error: "is not a valid variable name (use [A-Za-z_][A-Za-z0-9_]*)" }),
      cString,
      { error: "must be an object of strings" },
    )
    .optional(),
  limits: limitsSchema.optional(),
  code: z.base64({ error: "must be the module bytes, base64-encoded" }).optional(),
  fileName: z
    .string({ error: "must be a string" })
    .regex(FILE_NAME_RE, { error: 'must be a file name (no "/") ending in .wasm' })
    .optional(),
  image: z.string({ error: "must be an image reference" }).min(1, { error: "must not be empty" }).optional(),
  /** Extra files of the built image (code only): absolute path → base64 bytes. */
  files: z
    .record(
      z.string().refine((p) => filePathProblem(p) === undefined, {
        error: (iss) => `${JSON.stringify(iss.input)}: ${filePathProblem(String(iss.input))}`,
      }),
      z.base64({ error: "must be the file's bytes, base64-encoded" }),
      { error: "must be an object of path: base64 bytes" },
    )
    .superRefine((files, ctx) => {
      for (const { path, file } of filesUnderFiles(Object.keys(files)))
        ctx.addIssue({
          code: "custom",
          message: `"${path}" needs "${file}" to be a directory, but "${file}" is a file too`,
        });
    })
    .optional(),
  /** Image form pushed for code: `compat-smart` (default) or the CNCF `wasm-artifact` (code only, no files). */
  format: z.enum(IMAGE_FORMATS, { error: `must be one of ${IMAGE_FORMATS.join(", ")}` }).optional(),
};

type Source = { code?: string; image?: string; fileName?: string; files?: object; format?: string };
function checkSource(required: boolean) {
  return (v: Source, ctx: z.RefinementCtx) => {
    if (v.code !== undefined && v.image !== undefined)
      ctx.addIssue({ code: "custom", path: ["image"], message: "cannot be given together with code" });
    else if (required && v.code === undefined && v.image === undefined)
      ctx.addIssue({ code: "custom", path: ["code"], message: "exactly one of code or image is required" });
    if (v.fileName !== undefined && v.code === undefined)
      ctx.addIssue({ code: "custom", path: ["fileName"], message: "is only allowed together with code" });
    for (const field of ["files", "format"] as const)
      if (v[field] !== undefined && v.code === undefined)
        ctx.addIssue({ code: "custom", path: [field], message: "is only allowed together with code" });
    if (v.format === "wasm-artifact" && v.files && Object.keys(v.files).length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["files"],
        message: "a wasm-artifact image holds only the module: extra files need the compat-smart format",
      });
  };
}

/** Retries of asynchronous invocations; fields not given keep their value (or the default). */
const retrySchema = z.strictObject(
  {
    retries: z
      .int({ error: must("must be a whole number from 0 to 100") })
      .min(0, { error: "must be a whole number from 0 to 100" })
      .max(100, { error: "must be a whole number from 0 to 100" })
      .optional(),
    backoffMs: positiveInt(3_600_000).optional(),
    maxAgeMs: positiveInt(7 * 24 * 3_600_000).optional(),
  },
  { error: must("must be an object") },
);

export const createFunctionSchema = z
  .strictObject(
    { name: nameSchema, ...functionFields, retry: retrySchema.optional() },
    { error: "must be a JSON object" },
  )
  .superRefine(checkSource(true));
export type CreateFunctionInput = z.input<typeof createFunctionSchema>;

export const updateFunctionSchema = z
  .strictObject({ ...functionFields, retry: retrySchema.optional() }, { error: "must be a JSON object" })
  .superRefine(checkSource(false))
  .superRefine((v, ctx) => {
    if (Object.values(v).every((x) => x === undefined))
      ctx.addIssue({ code: "custom", path: [], message: "nothing to update (give at least one field)" });
  });
export type UpdateFunctionInput = z.input<typeof updateFunctionSchema>;

const PARAM_RE = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Why a route path is unacceptable, or undefined. `{param}` segments only when `params`. */
export function pathProblem(path: string, params: boolean): string | undefined {
  if (!path.startsWith("/")) return 'must start with "/"';
  if (/[\s?#\u0000-\u001f\u007f]/.test(path)) return "must not contain spaces, control characters, ? or #";
  const segments = path.slice(1).split("/");
  const names = new Set<string>();
  for (const [i, s] of segments.entries()) {
    if (s === "." || s === "..") return 'must not contain "." or ".." segments';
    if (s === "" && i < segments.length - 1) return "must not contain empty segments (//)";
    if (!s.includes("{") && !s.includes("}")) continue;
    if (!params) return "{param} segments are only allowed in url";
    const m = PARAM_RE.exec(s);
    if (!m) return `segment "${s}" must be a whole {param} with a name from [A-Za-z0-9_]`;
    if (names.has(m[1])) return `parameter {${m[1]}} appears twice`;
    names.add(m[1]);
  }
  return undefined;
}

/** A route on HEALTH_PATH would never be reached: the router answers it before looking at its routes. */
function reservedPathProblem(path: string, prefix: boolean): string | undefined {
  // A prefix is stored without its trailing slash: "/healthz/" is the same route as "/healthz".
  const stored = prefix && path.length > 1 ? path.replace(/\/+$/, "") : path;
  if (stored === HEALTH_PATH)
    return `${HEALTH_PATH} is reserved: the router answers it itself, so a route there is never reached`;
  return undefined;
}

export const createHttpTriggerSchema = z
  .strictObject(
    {
      name: nameSchema,
      function: nameSchema,
      methods: z
        .array(z.enum(HTTP_METHODS, { error: `must be one of ${HTTP_METHODS.join(", ")}` }), {
          error: "must be an array of HTTP methods",
        })
        .min(1, { error: "must name at least one method" })
        .optional(),
      url: z.string({ error: "must be a string" }).optional(),
      prefix: z.string({ error: "must be a string" }).optional(),
      async: z.boolean({ error: "must be true or false" }).optional(),
    },
    { error: "must be a JSON object" },
  )
  .superRefine((v, ctx) => {
    if ((v.url === undefined) === (v.prefix === undefined)) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "exactly one of url or prefix is required" });
      return;
    }
    const field = v.url !== undefined ? "url" : "prefix";
    const path = (v.url ?? v.prefix) as string;
    const problem = pathProblem(path, field === "url") ?? reservedPathProblem(path, field === "prefix");
    if (problem) ctx.addIssue({ code: "custom", path: [field], message: problem });
  });
export type CreateHttpTriggerInput = z.input<typeof createHttpTriggerSchema>;

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out;
}

/** Validates `body` against `schema`; every problem becomes part of ONE INVALID_ARGUMENT message naming its field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const parts = r.error.issues.map((iss) => {
    if (iss.code === "unrecognized_keys")
      return iss.keys.map((k) => `${formatPath([...iss.path, k])}: unknown field`).join("; ");
    const message = iss.code === "invalid_key" ? (iss.issues[0]?.message ?? iss.message) : iss.message;
    return `${formatPath(iss.path) || "body"}: ${message}`;
  });
  throw new WasmletError("INVALID_ARGUMENT", parts.join("; "));
}
