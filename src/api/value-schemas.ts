import { z } from "zod";
import { valueKeyProblem } from "../core/index.js";
import { nameSchema } from "./schemas.js";

/** Most keys in one secret or config, and most bytes of all its values (what a Kubernetes Secret holds: 1 MiB). */
export const MAX_VALUE_KEYS = 256;
export const MAX_VALUE_BYTES = 1024 * 1024;

const key = z.string().refine((k) => valueKeyProblem(k) === undefined, {
  error: (iss) => `key ${JSON.stringify(iss.input)}: ${valueKeyProblem(String(iss.input))}`,
});

// The value's own text never appears in an error: a secret's is not to be echoed anywhere.
const dataSchema = z
  .record(key, z.string({ error: "must be a string (the value as UTF-8 text)" }), {
    error: "must be an object of key: value",
  })
  .superRefine((data, ctx) => {
    if (Object.keys(data).length > MAX_VALUE_KEYS)
      ctx.addIssue({ code: "custom", message: `must have at most ${MAX_VALUE_KEYS} keys` });
    const bytes = Object.values(data).reduce((n, v) => n + Buffer.byteLength(v), 0);
    if (bytes > MAX_VALUE_BYTES)
      ctx.addIssue({
        code: "custom",
        message: `values add up to ${bytes} bytes; at most ${MAX_VALUE_BYTES} are allowed`,
      });
  });

const labelsSchema = z.record(z.string(), z.string(), { error: "must be an object of strings" });

/** `POST /secrets` and `POST /configs`: a new named set of key → value. */
export const createValuesSchema = z.strictObject(
  { name: nameSchema, data: dataSchema, labels: labelsSchema.optional() },
  { error: "must be a JSON object" },
);
export type CreateValuesInput = z.input<typeof createValuesSchema>;

/**
 * `PUT /secrets/{name}` and `PUT /configs/{name}`: `data` adds or replaces keys (all of them with `replace`),
 * `removeKeys` removes keys.
 */
export const updateValuesSchema = z
  .strictObject(
    {
      data: dataSchema.optional(),
      removeKeys: z.array(key, { error: "must be an array of keys" }).optional(),
      replace: z.boolean({ error: "must be true or false" }).optional(),
      labels: labelsSchema.optional(),
    },
    { error: "must be a JSON object" },
  )
  .superRefine((v, ctx) => {
    if (v.data === undefined && v.removeKeys === undefined && v.labels === undefined)
      ctx.addIssue({
        code: "custom",
        path: [],
        message: "nothing to update (give data, removeKeys or labels)",
      });
    if (v.replace && v.data === undefined)
      ctx.addIssue({ code: "custom", path: ["replace"], message: "needs data (the new set of keys)" });
    for (const k of v.removeKeys ?? [])
      if (v.data && Object.hasOwn(v.data, k))
        ctx.addIssue({ code: "custom", path: ["removeKeys"], message: `key "${k}" is also given in data` });
  });
export type UpdateValuesInput = z.input<typeof updateValuesSchema>;
