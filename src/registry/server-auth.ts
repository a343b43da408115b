import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { presentedSecret, secretMatches } from "../http/index.js";
import { OciError } from "./oci-error.js";
import { readSmallBody, sendJson } from "./server-http.js";

/** Where clients trade credentials for a bearer token: the realm every challenge names. */
export const TOKEN_PATH = "/v2/token";
const SERVICE = "wasmlet";
/** An OAuth2 token request is a short form. */
const MAX_TOKEN_FORM_BYTES = 16 * 1024;

/** `host[:port]` for the realm: the Host the client asked for when it is one, else the address it reached. */
function realmHost(req: IncomingMessage): string {
  const host = req.headers.host ?? "";
  // The client chooses its Host header: only a well-formed host[:port] is echoed back into a header.
  if (/^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host)) return host;
  const address = req.socket.localAddress ?? "127.0.0.1";
  return `${isIP(address) === 6 ? `[${address}]` : address}:${req.socket.localPort}`;
}

/**
 * The control token on the registry's endpoints, in the Docker token flow OCI clients (skopeo, containerd,
 * docker) follow: a 401 names a token endpoint, which trades `user:TOKEN` for a bearer token.
 */
export class TokenGate {
  constructor(private readonly token: string) {}

  /** Called before every /v2 request but the token endpoint; throws 401 UNAUTHORIZED unless it carries the token. */
  check(req: IncomingMessage): void {
    // The control API's one format (Bearer), or the password of Basic credentials with any user name: OCI clients
    // log in as `user:password`, and the control port has one token and no users.
    const secret = presentedSecret(req.headers.authorization, true);
    if (secret !== undefined && secretMatches(secret, this.token)) return;
    throw new OciError(
      401,
      "UNAUTHORIZED",
      "authentication required: the control token, as a bearer token or as the password of Basic credentials",
      undefined,
      { "www-authenticate": `Bearer realm="http://${realmHost(req)}${TOKEN_PATH}",service="${SERVICE}"` },
    );
  }

  /**
   * Answers the token endpoint: GET with Basic credentials (the Docker token spec), or POST with an OAuth2
   * password or refresh-token form, which containerd tries first. The password must be the control token.
   */
  async issue(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let secret: string | undefined;
    if (req.method === "POST") {
      const form = new URLSearchParams((await readSmallBody(req, MAX_TOKEN_FORM_BYTES)).toString("utf8"));
      const grant = form.get("grant_type");
      secret =
        (grant === "password"
          ? form.get("password")
          : grant === "refresh_token"
            ? form.get("refresh_token")
            : null) ?? undefined;
    } else if (req.method === "GET") secret = presentedSecret(req.headers.authorization, true);
    else throw new OciError(405, "UNSUPPORTED", `${req.method} is not supported on ${TOKEN_PATH}`);
    if (secret === undefined || !secretMatches(secret, this.token))
      throw new OciError(
        401,
        "UNAUTHORIZED",
        "the token endpoint takes Basic credentials whose password is the control token",
        undefined,
        { "www-authenticate": `Basic realm="${SERVICE}"` },
      );
    // The control token is the bearer token: one secret, so nothing to sign, expire or revoke besides it.
    sendJson(res, 200, { token: this.token, access_token: this.token });
  }
}
