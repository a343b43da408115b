/** Health check path: the router and the control port answer it themselves, so no route can serve it. */
export const HEALTH_PATH = "/healthz";

/** Percent-decodes a path or path segment; a malformed escape leaves the text as it was rather than failing the request. */
export function decodePath(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
