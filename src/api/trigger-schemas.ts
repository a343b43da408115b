import { z } from "zod";
import { HTTP_METHODS } from "../core/index.js";
import { scheduleProblem } from "../triggers/index.js";
import { nameSchema } from "./schemas.js";

/** Largest body a timer sends: it is stored with the trigger, so it stays small. */
export const MAX_TIMER_BODY_BYTES = 64 * 1024;

const cronSchema = z
  .string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") })
  .superRefine((v, ctx) => {
    const problem = scheduleProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const SUBPATH_RE = /^\/[^\s#\u0000-\u001f\u007f]*$/;

const timeTriggerFields = {
  function: nameSchema,
  cron: cronSchema,
  method: z.enum(HTTP_METHODS, { error: `must be one of ${HTTP_METHODS.join(", ")}` }),
  subpath: z
    .string({ error: "must be a string" })
    .regex(SUBPATH_RE, { error: 'must start with "/" and hold no spaces, control characters or #' }),
  body: z.string({ error: "must be a string" }).refine((b) => Buffer.byteLength(b) <= MAX_TIMER_BODY_BYTES, {
    error: `must be at most ${MAX_TIMER_BODY_BYTES} bytes`,
  }),
};

export const createTimeTriggerSchema = z.strictObject(
  {
    name: nameSchema,
    function: timeTriggerFields.function,
    cron: timeTriggerFields.cron,
    method: timeTriggerFields.method.optional(),
    subpath: timeTriggerFields.subpath.optional(),
    body: timeTriggerFields.body.optional(),
  },
  { error: "must be a JSON object" },
);
export type CreateTimeTriggerInput = z.input<typeof createTimeTriggerSchema>;

export const updateTimeTriggerSchema = z
  .strictObject(
    {
      function: timeTriggerFields.function.optional(),
      cron: timeTriggerFields.cron.optional(),
      method: timeTriggerFields.method.optional(),
      subpath: timeTriggerFields.subpath.optional(),
      body: timeTriggerFields.body.optional(),
    },
    { error: "must be a JSON object" },
  )
  .superRefine((v, ctx) => {
    if (Object.values(v).every((x) => x === undefined))
      ctx.addIssue({ code: "custom", path: [], message: "nothing to update (give at least one field)" });
  });
export type UpdateTimeTriggerInput = z.input<typeof updateTimeTriggerSchema>;
