/** Health check path: the router and the control port answer it themselves, so no route can serve it. */
export const HEALTH_PATH = "/healthz";
/** Liveness probe (`serve`'s listeners): 200 while the process answers at all, also while it drains. */
export const LIVE_PATH = "/livez";
/** Readiness probe (`serve`'s listeners): 200 while serving, 503 from the moment a drain starts. */
export const READY_PATH = "/readyz";
/** Every path a listener of `serve` answers itself, before any route: no route can be created on one. */
export const PROBE_PATHS: readonly string[] = [HEALTH_PATH, LIVE_PATH, READY_PATH];

/** Percent-decodes a path or path segment; a malformed escape leaves the text as it was rather than failing the request. */
export function decodePath(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
