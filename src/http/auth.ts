import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { WasmletError } from "../core/index.js";
import { sendError } from "./send.js";

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** True when `given` is `secret`; how long it takes says nothing about where they differ. */
export function secretMatches(given: string, secret: string): boolean {
  // Hashing first gives equal-length buffers, so neither the length nor the first difference shows in the time.
  return timingSafeEqual(sha256(given), sha256(secret));
}

/**
 * The secret an Authorization header presents: a Bearer token (the control port's one format), or, where
 * `basic` is allowed, the password of Basic credentials with any user name (OCI clients log in as
 * `user:password`, and the control port has one token and no users).
 */
export function presentedSecret(authorization: string | undefined, basic = false): string | undefined {
  const m = /^(Bearer|Basic)\s+(.+)$/i.exec(authorization ?? "");
  if (!m) return undefined;
  if (m[1].toLowerCase() === "bearer") return m[2].trim();
  if (!basic) return undefined;
  const userPass = Buffer.from(m[2].trim(), "base64").toString("utf8");
  const colon = userPass.indexOf(":");
  return colon < 0 ? undefined : userPass.slice(colon + 1);
}

/** True when the Authorization header carries `token` as a bearer token (or a Basic password, if allowed). */
export function carriesToken(authorization: string | undefined, token: string, basic = false): boolean {
  const secret = presentedSecret(authorization, basic);
  return secret !== undefined && secretMatches(secret, token);
}

/** The value of cookie `name` in a request's Cookie header, or undefined. */
export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  for (const part of (cookieHeader ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The cookie the dashboard's login sets to the control token (HttpOnly, SameSite=Strict). */
export const SESSION_COOKIE = "wasmlet_session";
/** The header the dashboard sends on every API call: a cross-site form cannot set it, so a cookie alone never authorises a write. */
export const UI_HEADER = "x-wasmlet-ui";

/**
 * True when a request carries the token: as a bearer token, or — from the dashboard — in the session cookie, which
 * counts for reads, and for writes only with the UI header (so another site cannot make a browser write with it).
 */
export function authorised(
  req: { method?: string; headers: Record<string, string | string[] | undefined> },
  token: string,
): boolean {
  const auth = req.headers.authorization;
  if (carriesToken(typeof auth === "string" ? auth : undefined, token)) return true;
  const cookie = req.headers.cookie;
  const session = cookieValue(typeof cookie === "string" ? cookie : undefined, SESSION_COOKIE);
  if (session === undefined || !secretMatches(session, token)) return false;
  return req.method === "GET" || req.method === "HEAD" || req.headers[UI_HEADER] !== undefined;
}

/** What a request to the control port without its token gets (401). */
export function unauthorisedError(): WasmletError {
  return new WasmletError("UNAUTHORIZED", "authorization: a valid bearer token is required");
}

/** For a control-port front: when `token` is set and `req` does not carry it, answers 401 and returns true. */
export function refuseWithoutToken(
  req: IncomingMessage,
  res: ServerResponse,
  token: string | undefined,
): boolean {
  if (token === undefined || authorised(req, token)) return false;
  sendError(req, res, unauthorisedError());
  return true;
}
