import { WasmletError } from "../core/index.js";
import { isLoopbackRegistry } from "./client.js";
import { isRepositoryName } from "./reference.js";

/** A registry named by `serve --registry`: where function images are pushed and pulled instead of the embedded one. */
export interface RegistryLocation {
  /** `host[:port]`, as image references name it. */
  host: string;
  /** Repository prefix inside the registry (`myorg`, `team/wasm`); "" for none. */
  prefix: string;
  /** Whether it speaks plain HTTP: an `http://` URL, or no scheme and a loopback host. */
  plainHttp: boolean;
  /** What image references start with: `host[:port][/prefix]` (e.g. `reg.example.com/myorg`). */
  base: string;
  /** The location as a URL, for messages: `https://reg.example.com/myorg`. */
  url: string;
}

/**
 * Parses `[http://|https://]host[:port][/prefix]`. Without a scheme a loopback host speaks HTTP and any other
 * HTTPS (as for image references). Credentials, queries and fragments are refused: credentials have options of
 * their own, so that they stay out of process listings and logs.
 */
export function parseRegistryLocation(value: string, option = "--registry"): RegistryLocation {
  const bad = (why: string) => new WasmletError("INVALID_ARGUMENT", `${option}: "${value}" ${why}`);
  const m = /^(?:(https?):\/\/)?([^/?#]*)(\/[^?#]*)?$/i.exec(value.trim());
  if (!m) throw bad("is not [http://|https://]host[:port][/prefix]");
  const [, scheme, authority, path = ""] = m;
  if (authority.includes("@"))
    throw bad("holds credentials: give them with --registry-username and --registry-password-file");
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(authority))
    throw bad("does not start with a registry host[:port]");
  const port = /:(\d+)$/.exec(authority)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    throw bad(`has port ${port}, out of range`);
  const prefix = path.replace(/^\/+|\/+$/g, "");
  if (prefix === "v2" || prefix.startsWith("v2/"))
    throw bad(
      "names the /v2 API: give the registry's address and an optional repository prefix, not an API path",
    );
  if (prefix !== "" && !isRepositoryName(prefix))
    throw bad(
      `has repository prefix "${prefix}", which is not valid (lower-case components [a-z0-9] joined by . _ __ - and /)`,
    );
  const host = authority.toLowerCase();
  const plainHttp = scheme ? scheme.toLowerCase() === "http" : isLoopbackRegistry(host);
  const base = prefix ? `${host}/${prefix}` : host;
  return { host, prefix, plainHttp, base, url: `${plainHttp ? "http" : "https"}://${base}` };
}
