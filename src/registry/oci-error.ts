/**
 * A failure the distribution spec names: its HTTP status and error code go to the client as they are. Thrown by
 * the store too (a digest mismatch, a blob a manifest names but the repository lacks), because the spec defines
 * those outcomes; the store itself never touches HTTP.
 */
export class OciError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
    /** Sent with the error: a 401's challenge, a 429's Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
