import { WasmletError } from "../core/index.js";

/** Credentials for one registry. `token` is a ready bearer token (sent as is, no token dance). */
export interface RegistryAuth {
  /** Sent with password as Basic credentials, to the registry or to its token service. */
  username?: string;
  password?: string;
  /** A bearer token used as is when the registry asks for Bearer auth (skips the token dance). */
  token?: string;
}

/** A parsed `WWW-Authenticate` header. */
export interface Challenge {
  /** Lower-cased auth scheme: `basic` or `bearer`. */
  scheme: string;
  /** Auth-params with lower-cased names (`realm`, `service`, `scope`). */
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (const p of m[2].matchAll(re))
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

export function basicHeader(auth: RegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username ?? ""}:${auth.password ?? ""}`).toString("base64")}`;
}

/**
 * The bearer token dance of the Docker token spec: GET realm?service=…&scope=…, with basic credentials when
 * the caller has some, and read `token` (or `access_token`) from the JSON answer.
 */
export async function fetchBearerToken(
  challenge: Challenge,
  scope: string,
  auth: RegistryAuth | undefined,
): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm) throw new WasmletError("UNAUTHORIZED", "the registry's Bearer challenge names no realm");
  const url = new URL(realm);
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  url.searchParams.set("scope", challenge.params.scope ?? scope);
  const headers: Record<string, string> = {};
  if (auth?.username !== undefined) headers.authorization = basicHeader(auth);
  const res = await fetch(url, { headers });
  const text = await res.text();
  if (!res.ok)
    throw new WasmletError(
      "UNAUTHORIZED",
      `token service ${url.origin} answered HTTP ${res.status}: ${text.slice(0, 200)}`,
    );
  let body: { token?: unknown; access_token?: unknown };
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new WasmletError("UNAUTHORIZED", `token service ${url.origin} answered with no JSON`, { cause: e });
  }
  const token = body.token ?? body.access_token;
  if (typeof token !== "string" || token === "")
    throw new WasmletError("UNAUTHORIZED", `token service ${url.origin} answered with no token`);
  return token;
}
