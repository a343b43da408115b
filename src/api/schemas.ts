import { z } from "zod";
import {
  CONTRACT_NAMES,
  HTTP_METHODS,
  IMAGE_FORMATS,
  MAX_PREOPENS,
  NAME_RE,
  PROBE_PATHS,
  parseOutboundRule,
  preopenPath,
  preopenProblem,
  VALUE_KINDS,
  valueKeyProblem,
  WasmletError,
} from "../core/index.js";

/** Error text for a field: "is required" when absent, else what it must be. */
const must = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? "is required" : what);

const badName = (iss: { input?: unknown }) =>
  iss.input === undefined
    ? "is required"
    : `${JSON.stringify(iss.input)} is not a valid name (use 1-63 characters from [a-z0-9-], starting and ending with a letter or digit)`;
export const nameSchema = z.string({ error: badName }).regex(NAME_RE, { error: badName });

/**
 * Standard base64 with padding, checked by decoding: node's decoder skips what is not base64 and stops at
 * padding, so a string of standard characters decodes to exactly 3/4 of its length (less its padding) only when all of it is base64.
 * zod's own check (a regular expression, then `atob`, which makes a string as long as the bytes) took ~230 ms of
 * the request thread for a 30 MB module; decoding takes ~12 ms.
 */
function isBase64(s: string): boolean {
  if (s.length % 4 !== 0 || s.includes("-") || s.includes("_")) return false; // base64url's, which node takes
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  return Buffer.from(s, "base64").byteLength === (s.length / 4) * 3 - pad;
}
const base64 = (error: string) => z.string({ error }).refine(isBase64, { error });

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

/** Why an allow-list entry is not valid, or undefined. */
function outboundProblem(pattern: string): string | undefined {
  try {
    parseOutboundRule(pattern, "");
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^: /, "");
  }
}

/** Why `p` is not acceptable as a path inside a preopened directory ("a/b.txt"), or undefined. */
export function relativePathProblem(p: string): string | undefined {
  if (p.startsWith("/")) return "must be relative to the directory";
  if (p === "" || p.endsWith("/") || p.includes("//")) return "must not be empty or have empty segments";
  if (p.split("/").some((s) => s === ".." || s === ".")) return 'must not contain "." or ".." segments';
  if (/[\u0000-\u001f]/.test(p)) return "must not contain control characters";
  return undefined;
}

const relativePath = z.string().refine((p) => relativePathProblem(p) === undefined, {
  error: (iss) => `${JSON.stringify(iss.input)}: ${relativePathProblem(String(iss.input))}`,
});

/** One `--dir LOCAL::NAME`: the directory preopened as `name`, and what the image holds in it. */
const dirSchema = z.strictObject(
  {
    name: z.string({ error: "must be a string" }).refine((n) => preopenProblem(n) === undefined, {
      error: (iss) => `${JSON.stringify(iss.input)}: ${preopenProblem(String(iss.input))}`,
    }),
    /** Regular files: path relative to the directory → base64 bytes. */
    files: z
      .record(relativePath, base64("must be the file's bytes, base64-encoded"), {
        error: "must be an object of relative path: base64 bytes",
      })
      .optional(),
    /** Symbolic links: relative path → relative target (an absolute one could never be followed). */
    symlinks: z
      .record(
        relativePath,
        z
          .string({ error: "must be a string" })
          .min(1, { error: "must not be empty" })
          .refine((t) => !t.startsWith("/") && !t.includes("\0"), {
            error:
              "must be a relative target: an absolute link cannot be followed inside a preopened directory",
          }),
        { error: "must be an object of relative path: target" },
      )
      .optional(),
    /** Directories, empty ones included: relative paths. */
    directories: z.array(relativePath, { error: "must be an array of relative paths" }).optional(),
  },
  { error: "must be an object with a name" },
);
export type DirInput = z.output<typeof dirSchema>;

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
  /** Where a component may send outbound HTTP (`scheme://host[:port]`, Spin's allowed_outbound_hosts). */
  allowOutbound: z
    .array(
      z.string({ error: "must be a string" }).refine((p) => outboundProblem(p) === undefined, {
        error: (iss) => outboundProblem(String(iss.input)) ?? "is invalid",
      }),
      { error: "must be an array of scheme://host[:port] patterns" },
    )
    .max(100, { error: "must have at most 100 entries" })
    .optional(),
  /** `command` only: answer with this file (absolute guest path) the run wrote, not stdout; null clears it. */
  outputFile: z
    .string({ error: "must be an absolute file path or null" })
    .refine((p) => filePathProblem(p) === undefined, {
      error: (iss) => `${JSON.stringify(iss.input)}: ${filePathProblem(String(iss.input))}`,
    })
    .nullable()
    .optional(),
  code: base64("must be the module bytes, base64-encoded").optional(),
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
      base64("must be the file's bytes, base64-encoded"),
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
  /**
   * Directories preopened beside "/" under their names (wasmtime's `--dir LOCAL::NAME`), with the files the
   * image holds in them (code only). What an invocation writes there goes to its overlay, like everywhere else.
   */
  dirs: z
    .array(dirSchema, { error: "must be an array of directories" })
    .max(MAX_PREOPENS, { error: `must list at most ${MAX_PREOPENS} directories` })
    .superRefine((dirs, ctx) => {
      const seen = new Map<string, string>();
      for (const [i, d] of dirs.entries()) {
        if (preopenProblem(d.name) !== undefined) continue;
        const path = preopenPath(d.name);
        const other = seen.get(path);
        if (other !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [i, "name"],
            message: `"${d.name}" is the same directory as "${other}" (${path})`,
          });
        seen.set(path, d.name);
      }
    })
    .optional(),
  /** Image form pushed for code: `compat-smart` (default) or the CNCF `wasm-artifact` (code only, no files). */
  format: z.enum(IMAGE_FORMATS, { error: `must be one of ${IMAGE_FORMATS.join(", ")}` }).optional(),
};

type Source = {
  code?: string;
  image?: string;
  fileName?: string;
  files?: object;
  dirs?: unknown[];
  format?: string;
};
function checkSource(required: boolean) {
  return (v: Source, ctx: z.RefinementCtx) => {
    if (v.code !== undefined && v.image !== undefined)
      ctx.addIssue({ code: "custom", path: ["image"], message: "cannot be given together with code" });
    else if (required && v.code === undefined && v.image === undefined)
      ctx.addIssue({ code: "custom", path: ["code"], message: "exactly one of code or image is required" });
    if (v.fileName !== undefined && v.code === undefined)
      ctx.addIssue({ code: "custom", path: ["fileName"], message: "is only allowed together with code" });
    for (const field of ["files", "dirs", "format"] as const)
      if (v[field] !== undefined && v.code === undefined)
        ctx.addIssue({ code: "custom", path: [field], message: "is only allowed together with code" });
    if (v.format === "wasm-artifact" && v.files && Object.keys(v.files).length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["files"],
        message: "a wasm-artifact image holds only the module: extra files need the compat-smart format",
      });
    if (v.format === "wasm-artifact" && v.dirs && v.dirs.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["dirs"],
        message:
          "a wasm-artifact image holds only the module: preopened directories need the compat-smart format",
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

const uniqueNames = (field: string) =>
  z
    .array(nameSchema, { error: `must be an array of ${field} names` })
    .max(64, { error: "must list at most 64 names" })
    .refine((a) => new Set(a).size === a.length, { error: "must not name one twice" });

/** What a function uses of secrets and configs (their names; the values stay in them). */
const valueFields = {
  /** Secrets mounted at /secrets/<name>/<key>; an empty array removes them all. */
  secrets: uniqueNames("secret").optional(),
  /** Configs mounted at /configs/<name>/<key>; an empty array removes them all. */
  configs: uniqueNames("config").optional(),
  /** Variables whose values are keys of secrets or configs; replaces the whole set, `{}` removes them. */
  envFrom: z
    .record(
      z.string().regex(ENV_KEY_RE, { error: "is not a valid variable name (use [A-Za-z_][A-Za-z0-9_]*)" }),
      z.strictObject(
        {
          kind: z.enum(VALUE_KINDS, { error: `must be one of ${VALUE_KINDS.join(", ")}` }),
          name: nameSchema,
          key: z.string({ error: "must be a string" }).refine((k) => valueKeyProblem(k) === undefined, {
            error: (iss) => `${JSON.stringify(iss.input)}: ${valueKeyProblem(String(iss.input))}`,
          }),
        },
        { error: "must be an object {kind, name, key}" },
      ),
      { error: "must be an object of variable: {kind, name, key}" },
    )
    .optional(),
};

/** A variable set both in env and from a secret or config is ambiguous. */
function checkEnvFrom(
  v: { env?: Record<string, string>; envFrom?: Record<string, unknown> },
  ctx: z.RefinementCtx,
) {
  for (const k of Object.keys(v.envFrom ?? {}))
    if (v.env && Object.hasOwn(v.env, k))
      ctx.addIssue({ code: "custom", path: ["envFrom", k], message: "is also set in env" });
}

export const createFunctionSchema = z
  .strictObject(
    { name: nameSchema, ...functionFields, ...valueFields, retry: retrySchema.optional() },
    { error: "must be a JSON object" },
  )
  .superRefine(checkSource(true))
  .superRefine(checkEnvFrom);
export type CreateFunctionInput = z.input<typeof createFunctionSchema>;

export const updateFunctionSchema = z
  .strictObject(
    { ...functionFields, ...valueFields, retry: retrySchema.optional() },
    { error: "must be a JSON object" },
  )
  .superRefine(checkSource(false))
  .superRefine(checkEnvFrom)
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

/** A route on a probe path (PROBE_PATHS) would never be reached: the router answers it before looking at its routes. */
function reservedPathProblem(path: string, prefix: boolean): string | undefined {
  // A prefix is stored without its trailing slash: "/healthz/" is the same route as "/healthz".
  const stored = prefix && path.length > 1 ? path.replace(/\/+$/, "") : path;
  if (PROBE_PATHS.includes(stored))
    return `${stored} is reserved: the router answers it itself, so a route there is never reached`;
  return undefined;
}

/** Route weights: function name → a whole number from 0 to 1,000,000; at least one above 0. */
const weightsSchema = z
  .record(nameSchema, z.int({ error: "must be a whole number" }).min(0).max(1_000_000), {
    error: "must be an object of function name → weight",
  })
  .superRefine((w, ctx) => {
    const values = Object.values(w);
    if (values.length === 0) ctx.addIssue({ code: "custom", message: "must name at least one function" });
    else if (values.every((v) => v === 0))
      ctx.addIssue({ code: "custom", message: "at least one weight must be above 0" });
  });

/** A route's function must be one of its weighted ones. */
function checkWeightedFunction(
  v: { function?: string; weights?: Record<string, number> | null },
  ctx: z.RefinementCtx,
) {
  if (v.weights && v.function !== undefined && !Object.hasOwn(v.weights, v.function))
    ctx.addIssue({
      code: "custom",
      path: ["function"],
      message: `"${v.function}" must be one of the weighted functions (${Object.keys(v.weights).join(", ")})`,
    });
}

export const createHttpTriggerSchema = z
  .strictObject(
    {
      name: nameSchema,
      function: nameSchema,
      weights: weightsSchema.optional(),
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
    checkWeightedFunction(v, ctx);
  });
export type CreateHttpTriggerInput = z.input<typeof createHttpTriggerSchema>;

/** `PUT /triggers/http/:name`: a new function or weights (`weights: null` sends everything to `function` again). */
export const updateHttpTriggerSchema = z
  .strictObject(
    { function: nameSchema.optional(), weights: weightsSchema.nullable().optional() },
    { error: "must be a JSON object" },
  )
  .superRefine(checkWeightedFunction);
export type UpdateHttpTriggerInput = z.input<typeof updateHttpTriggerSchema>;

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

/** `POST /canaries`: start a canary release of `new` on route `route`. */
export const createCanarySchema = z.strictObject(
  {
    route: nameSchema,
    new: nameSchema,
    step: positiveInt(100).optional(),
    intervalMs: positiveInt(24 * 3_600_000)
      .min(100, { error: "must be at least 100 (ms)" })
      .optional(),
    thresholdPct: z
      .number({ error: must("must be a number from 0 to 100") })
      .min(0, { error: "must be a number from 0 to 100" })
      .max(100, { error: "must be a number from 0 to 100" })
      .optional(),
    minRequests: positiveInt(1_000_000_000).optional(),
  },
  { error: "must be a JSON object" },
);
export type CreateCanaryInput = z.input<typeof createCanarySchema>;
