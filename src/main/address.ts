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

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
