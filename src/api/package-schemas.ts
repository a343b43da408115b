import { z } from "zod";
import { functionFields, nameSchema } from "./schemas.js";

const LABEL_KEY_RE = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$/;
/** A file or directory name, as `--src` gave it: no path, no control characters. */
const FILE_NAME_RE = /^[^/\\\u0000-\u001f]{1,255}$/;

const labels = z
  .record(
    z.string().regex(LABEL_KEY_RE, { error: "is not a valid label key" }),
    z.string({ error: "must be a string" }).max(255, { error: "must be at most 255 characters" }),
    { error: "must be an object of strings" },
  )
  .optional();

const builder = z
  .string({ error: "must be a builder name" })
  .min(1, { error: "must not be empty" })
  .max(64, { error: "is not a known builder" })
  .optional();

const buildCommand = z
  .string({ error: "must be a shell command" })
  .max(4096, { error: "must be at most 4096 characters" })
  .optional();

const archive = z.base64({ error: "must be the tar+gzip archive, base64-encoded" });
const fileName = z
  .string({ error: "must be a string" })
  .regex(FILE_NAME_RE, { error: "must be a file or directory name without /" });

/** Settings of a function a package build creates or updates. */
export const functionDraftSchema = z.strictObject(
  {
    name: nameSchema,
    contract: functionFields.contract,
    args: functionFields.args,
    env: functionFields.env,
    allowOutbound: functionFields.allowOutbound,
    limits: functionFields.limits,
  },
  { error: "must be an object" },
);

function oneBuilder(
  v: { builder?: string; environment?: string },
  ctx: z.RefinementCtx,
  required: boolean,
): void {
  if (v.builder !== undefined && v.environment !== undefined)
    ctx.addIssue({ code: "custom", path: ["environment"], message: "cannot be given together with builder" });
  else if (required && v.builder === undefined && v.environment === undefined)
    ctx.addIssue({ code: "custom", path: ["builder"], message: "one of builder or environment is required" });
}

export const createPackageSchema = z
  .strictObject(
    {
      name: nameSchema,
      builder,
      environment: nameSchema.optional(),
      buildCommand,
      archive,
      fileName,
      labels,
      function: functionDraftSchema.optional(),
    },
    { error: "must be a JSON object" },
  )
  .superRefine((v, ctx) => oneBuilder(v, ctx, true));
export type CreatePackageInput = z.input<typeof createPackageSchema>;

export const updatePackageSchema = z
  .strictObject(
    {
      builder,
      environment: nameSchema.optional(),
      buildCommand,
      archive: archive.optional(),
      fileName: fileName.optional(),
      labels,
    },
    { error: "must be a JSON object" },
  )
  .superRefine((v, ctx) => {
    oneBuilder(v, ctx, false);
    if (v.fileName !== undefined && v.archive === undefined)
      ctx.addIssue({ code: "custom", path: ["fileName"], message: "is only allowed together with archive" });
    if (Object.values(v).every((x) => x === undefined))
      ctx.addIssue({ code: "custom", path: [], message: "nothing to update (give at least one field)" });
  });
export type UpdatePackageInput = z.input<typeof updatePackageSchema>;

export const createEnvironmentSchema = z.strictObject(
  { name: nameSchema, builder: builder.unwrap(), buildCommand, labels },
  { error: "must be a JSON object" },
);
export type CreateEnvironmentInput = z.input<typeof createEnvironmentSchema>;

export const updateEnvironmentSchema = z.strictObject(
  { builder, buildCommand, labels },
  { error: "must be a JSON object" },
);
export type UpdateEnvironmentInput = z.input<typeof updateEnvironmentSchema>;

export const rollbackSchema = z.strictObject(
  {
    to: z
      .int({ error: "must be a version number" })
      .positive({ error: "must be a version number" })
      .optional(),
  },
  { error: "must be a JSON object" },
);

const HASH_RE = /^[A-Za-z0-9:_-]{1,128}$/;
export const specDeploymentSchema = z.strictObject(
  {
    resources: z.record(
      // The kinds are the spec module's (the client's); the API keeps any Kind/name it is given.
      z.string().regex(/^[A-Z][A-Za-z]{0,63}\/[a-z0-9-]{1,63}$/, {
        error: "must look like Kind/name",
      }),
      z.string().regex(HASH_RE, { error: "must be a hash" }),
      { error: "must be an object" },
    ),
  },
  { error: "must be a JSON object" },
);
