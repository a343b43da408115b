import { WasmletError } from "../core/index.js";

/** How `serve --store etcd://…` reaches etcd: what the URL says plus the TLS and credential flags. */
export interface EtcdConnection {
  /** Client URLs, `http://host:port` (or `https://` with TLS). */
  endpoints: string[];
  /** PEM text of the CA, and of this client's certificate and key (mutual TLS). */
  tls?: { ca: string; cert?: string; key?: string };
  auth?: { username: string; password: string };
  /** Key prefix (the URL's path; default `/wasmlet/`). */
  prefix?: string;
}

const DEFAULT_ETCD_PORT = 2379;

/**
 * Parses `etcd://[user:password@]host[:port][,host[:port]…][/prefix]` (port 2379 by default). Credentials in the
 * URL and `auth` are one or the other; with `tls` the endpoints are https.
 */
export function parseEtcdUrl(
  url: string,
  extra: { tls?: EtcdConnection["tls"]; auth?: EtcdConnection["auth"] } = {},
): EtcdConnection {
  const bad = (why: string) =>
    new WasmletError(
      "INVALID_ARGUMENT",
      `--store ${redact(url)}: ${why} (etcd://[user:password@]host:port[,host:port…])`,
    );
  const m = /^etcd:\/\/(?:([^@/]*)@)?([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw bad("not an etcd:// URL");
  const [, userInfo, hosts, path] = m;
  let auth = extra.auth;
  if (userInfo !== undefined) {
    const colon = userInfo.indexOf(":");
    if (colon <= 0) throw bad("credentials in the URL are user:password");
    if (auth) throw bad("credentials both in the URL and in --etcd-user");
    auth = {
      username: decodeURIComponent(userInfo.slice(0, colon)),
      password: decodeURIComponent(userInfo.slice(colon + 1)),
    };
  }
  const scheme = extra.tls ? "https" : "http";
  const endpoints = hosts.split(",").map((h) => {
    const hm = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(h);
    if (!hm) throw bad(`"${h}" is not host[:port]`);
    const port = hm[2] === undefined ? DEFAULT_ETCD_PORT : Number(hm[2]);
    if (port < 1 || port > 65535) throw bad(`port ${port} is out of range`);
    return `${scheme}://${hm[1]}:${port}`;
  });
  const prefix = path && path !== "/" ? (path.endsWith("/") ? path : `${path}/`) : undefined;
  return { endpoints, tls: extra.tls, auth, prefix };
}

/** The URL with any password replaced, for error messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
