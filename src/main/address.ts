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

const UNSPECIFIED = new Set(["0.0.0.0", "::", ""]);

/**
 * The address other nodes reach a listener at (the node list, gathering, forwarding): `advertise` when given
 * (`serve --advertise-address`, e.g. a pod's IP), else the listener's own host — unless that is unspecified
 * (`0.0.0.0`, `::`), which no other machine can dial: then this machine's first non-internal IPv4 address
 * (`interfaces` is os.networkInterfaces()), or the unspecified host as it is when there is none.
 */
export function advertisedHostPort(
  at: HostPort,
  advertise: string | undefined,
  interfaces: NodeJS.Dict<{ address: string; family: string | number; internal: boolean }[]>,
): HostPort {
  if (advertise !== undefined) return { host: advertise.replace(/^\[|\]$/g, ""), port: at.port };
  if (!UNSPECIFIED.has(at.host)) return at;
  for (const list of Object.values(interfaces))
    for (const a of list ?? [])
      if (!a.internal && (a.family === "IPv4" || a.family === 4)) return { host: a.address, port: at.port };
  return at;
}
