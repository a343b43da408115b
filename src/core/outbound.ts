import { WasmletError } from "./errors.js";

/**
 * One entry of a function's outbound allow-list, as Spin's `allowed_outbound_hosts` spells them:
 * `scheme://host[:port]` where scheme is `http`, `https` or `*`; host a name, an IP (IPv6 in brackets), `*`, or
 * `*.example.com` (any name below example.com); port a number, a range `8000..8080`, or `*` (absent: the
 * scheme's default port).
 */
export interface OutboundRule {
  /** The entry as written. */
  pattern: string;
  scheme: "http" | "https" | "*";
  /** Lower case; `*`, `*.suffix`, or a literal name or address (brackets removed). */
  host: string;
  /** Inclusive port range; undefined = the scheme's default port; [0, 65535] for `*`. */
  ports?: [number, number];
  /** True when neither host nor port is a wildcard: only such an entry reaches link-local or control addresses. */
  exact: boolean;
}

const RULE = /^(\*|https?):\/\/(\[[0-9a-fA-F:.]+\]|[^/:?#[\]@\s]+)(?::(\*|\d{1,5}(?:\.\.\d{1,5})?))?\/?$/;

/** Parses an allow-list entry; throws INVALID_ARGUMENT naming `field` and the expected form. */
export function parseOutboundRule(pattern: string, field = "allowOutbound"): OutboundRule {
  const m = RULE.exec(pattern);
  const bad = (why: string) =>
    new WasmletError(
      "INVALID_ARGUMENT",
      `${field}: "${pattern}" ${why}; expected scheme://host[:port] like https://api.example.com, https://*.example.com or http://127.0.0.1:8080`,
    );
  if (!m) throw bad("is not an outbound host pattern");
  const host = m[2].toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (host.includes("*") && host !== "*" && !/^\*\.[^*]+$/.test(host))
    throw bad("has a wildcard that is not a whole leading label");
  let ports: [number, number] | undefined;
  if (m[3] === "*") ports = [0, 65535];
  else if (m[3]) {
    const [lo, hi = lo] = m[3].split("..").map(Number);
    if (lo < 1 || hi > 65535 || lo > hi) throw bad("has a port outside 1-65535");
    ports = [lo, hi];
  }
  return {
    pattern,
    scheme: m[1] as OutboundRule["scheme"],
    host,
    ports,
    exact: !host.includes("*") && m[3] !== "*",
  };
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };

/**
 * The first rule that allows a request to `scheme://host:port` (scheme without `:`, host lower case without
 * brackets), or undefined.
 */
export function matchOutbound(
  rules: readonly OutboundRule[],
  scheme: string,
  host: string,
  port: number,
): OutboundRule | undefined {
  for (const r of rules) {
    if (r.scheme !== "*" && r.scheme !== scheme) continue;
    const [lo, hi] = r.ports ?? [DEFAULT_PORTS[scheme], DEFAULT_PORTS[scheme]];
    if (port < lo || port > hi) continue;
    if (r.host === "*" || r.host === host) return r;
    if (r.host.startsWith("*.") && host.endsWith(r.host.slice(1))) return r;
  }
  return undefined;
}

/**
 * True for the addresses an allow-list entry with a wildcard must not reach: loopback (where the control port
 * listens by default), unspecified, link-local (169.254/16, fe80::/10) and the cloud metadata addresses. An IPv4
 * address mapped into IPv6 counts as itself.
 */
export function isGuardedAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(a);
  if (v4) {
    const [x, y] = [Number(v4[1]), Number(v4[2])];
    return x === 127 || x === 0 || (x === 169 && y === 254) || a === "100.100.100.200";
  }
  return a === "::1" || a === "::" || /^fe[89ab][0-9a-f]?:/.test(a) || a === "fd00:ec2::254";
}
