import { isIPv4 } from "node:net";
import { WasmletError } from "../core/index.js";

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `HOST:PORT`, `:PORT` or `PORT` (host defaults to 127.0.0.1), naming `flag` on error. */
export function parseHostPort(value: string, flag: string): HostPort {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[^:]*):)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535)
    throw new WasmletError("INVALID_ARGUMENT", `${flag}: "${value}" is not HOST:PORT (e.g. 127.0.0.1:8080)`);
  const host = (m[1] || "127.0.0.1").replace(/^\[|\]$/g, "");
  return { host, port };
}

/**
 * True for an address only this machine can reach: a 127.0.0.0/8 dotted quad, `::1` or `localhost`. Anything
 * else, `127.example.com` included (a name that resolves anywhere), needs a token on the control port.
 */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIPv4(host) && host.startsWith("127."));
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
