import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { AsyncInvocation, FunctionRecord, HttpTriggerRecord } from "../core/index.js";
import type { Store } from "../store/index.js";

/** Largest body of an asynchronous invocation: it is stored (base64, in SQLite) until it has run. */
export const ASYNC_MAX_BODY_BYTES = 1024 * 1024;

const IDEMPOTENCY_HEADER = "idempotency-key";
/** Longest idempotency key kept; a longer one is refused (400). */
const MAX_KEY_CHARS = 256;

/** Whether a request is answered 202 and run later: the route says so, or the caller asks (RFC 7240, or our header). */
export function wantsAsync(trigger: HttpTriggerRecord, headers: IncomingHttpHeaders): boolean {
  if (trigger.async) return true;
  const prefer = headers.prefer;
  if (typeof prefer === "string" && /(^|[\s,;])respond-async([\s,;=]|$)/i.test(prefer)) return true;
  const mode = headers["x-wasmlet-invoke-mode"];
  return typeof mode === "string" && mode.trim().toLowerCase() === "async";
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Stores the request as a pending invocation and answers 202 with its id and `Location` only once it is durable;
 * 503 (Retry-After) when it cannot be stored. A second request with the same Idempotency-Key (and function) gets
 * the first one's id, and nothing is stored.
 */
export async function acceptAsync(
  store: Store,
  fn: FunctionRecord,
  trigger: HttpTriggerRecord,
  req: Omit<AsyncInvocation["request"], "body"> & { body: Uint8Array },
  res: ServerResponse,
): Promise<void> {
  const key = req.headers[IDEMPOTENCY_HEADER];
  if (key !== undefined && (key === "" || key.length > MAX_KEY_CHARS)) {
    send(res, 400, {
      error: {
        code: "INVALID_ARGUMENT",
        message: `${IDEMPOTENCY_HEADER}: must be 1 to ${MAX_KEY_CHARS} characters`,
      },
    });
    return;
  }
  const now = Date.now();
  const iso = new Date(now).toISOString();
  const inv: AsyncInvocation = {
    id: randomUUID(),
    function: fn.name,
    route: trigger.name,
    status: "pending",
    request: { ...req, body: Buffer.from(req.body).toString("base64") },
    attempts: 0,
    acceptedAt: iso,
    ageFrom: iso,
    updatedAt: iso,
    notBefore: now,
  };
  if (key !== undefined) inv.idempotencyKey = key;
  let stored: { invocation: AsyncInvocation; duplicate: boolean };
  try {
    stored = await store.acceptInvocation(inv);
  } catch (e) {
    send(
      res,
      503,
      {
        error: {
          code: "UNAVAILABLE",
          message: `cannot store the invocation: ${e instanceof Error ? e.message : e}`,
        },
      },
      { "retry-after": "1" },
    );
    return;
  }
  const { id, status } = stored.invocation;
  const location = `/api/v1/invocations/${id}`;
  send(
    res,
    202,
    { id, status, location, ...(stored.duplicate ? { duplicate: true } : {}) },
    {
      location,
      "preference-applied": "respond-async",
    },
  );
}
