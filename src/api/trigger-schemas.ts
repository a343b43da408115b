import { z } from "zod";
import { HTTP_METHODS } from "../core/index.js";
import { MQ_TYPES, scheduleProblem } from "../triggers/index.js";
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

const SUBJECT_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const subject = z
  .string({ error: (iss) => (iss.input === undefined ? "is required" : "must be a string") })
  .regex(SUBJECT_RE, {
    error: "must be a subject such as orders.new (tokens of [A-Za-z0-9_-] separated by dots; no wildcards)",
  });
/** An optional topic; "" (update only) removes it. */
const optionalTopic = z.union([z.literal(""), subject]).optional();

const mqFields = {
  function: nameSchema,
  mqtype: z.enum(MQ_TYPES, { error: `must be one of ${MQ_TYPES.join(", ")}` }),
  topic: subject,
  maxRetries: z
    .int({ error: "must be a whole number from 0 to 100" })
    .min(0, { error: "must be a whole number from 0 to 100" })
    .max(100, { error: "must be a whole number from 0 to 100" }),
  contentType: z
    .string({ error: "must be a string" })
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+( *;[\x20-\x7e]*)?$/, {
      error: "must be a media type such as application/json",
    }),
};

/** A trigger that publishes its output to its own topic would feed itself forever. */
function noLoop(v: { topic?: string; respTopic?: string; errorTopic?: string }, ctx: z.RefinementCtx): void {
  for (const field of ["respTopic", "errorTopic"] as const)
    if (v[field] && v[field] === v.topic)
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: "must differ from topic (the trigger would consume its own output)",
      });
}

export const createMqTriggerSchema = z
  .strictObject(
    {
      name: nameSchema,
      function: mqFields.function,
      mqtype: mqFields.mqtype.optional(),
      topic: mqFields.topic,
      respTopic: subject.optional(),
      errorTopic: subject.optional(),
      maxRetries: mqFields.maxRetries.optional(),
      contentType: mqFields.contentType.optional(),
    },
    { error: "must be a JSON object" },
  )
  .superRefine(noLoop);
export type CreateMqTriggerInput = z.input<typeof createMqTriggerSchema>;

export const updateMqTriggerSchema = z
  .strictObject(
    {
      function: mqFields.function.optional(),
      topic: mqFields.topic.optional(),
      respTopic: optionalTopic,
      errorTopic: optionalTopic,
      maxRetries: mqFields.maxRetries.optional(),
      contentType: mqFields.contentType.optional(),
    },
    { error: "must be a JSON object" },
  )
  .superRefine((v, ctx) => {
    if (Object.values(v).every((x) => x === undefined))
      ctx.addIssue({ code: "custom", path: [], message: "nothing to update (give at least one field)" });
  });
export type UpdateMqTriggerInput = z.input<typeof updateMqTriggerSchema>;
