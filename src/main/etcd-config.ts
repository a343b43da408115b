import { readFileSync } from "node:fs";
import { WasmletError } from "../core/index.js";
import { type EtcdConnection, parseEtcdUrl } from "../store/index.js";

/** The `serve --store etcd://…` flags as given: file paths and credentials. */
export interface EtcdFlags {
  ca?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
}

/** Turns `--store` and the `--etcd-*` flags into a connection: reads the PEM files, checks the pairs go together. */
export function etcdConnection(url: string, flags: EtcdFlags): EtcdConnection {
  if (!url.startsWith("etcd://"))
    throw new WasmletError("INVALID_ARGUMENT", `--store: "${url}" is neither sqlite nor an etcd:// URL`);
  const pem = (flag: string, file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (e) {
      throw new WasmletError("INVALID_ARGUMENT", `${flag}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  if ((flags.cert === undefined) !== (flags.key === undefined))
    throw new WasmletError("INVALID_ARGUMENT", "--etcd-cert and --etcd-key go together");
  if (flags.cert && !flags.ca) throw new WasmletError("INVALID_ARGUMENT", "--etcd-cert needs --etcd-ca");
  if ((flags.user === undefined) !== (flags.password === undefined))
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "--etcd-user and --etcd-password (WASMLET_ETCD_PASSWORD) go together",
    );
  const tls = flags.ca
    ? {
        ca: pem("--etcd-ca", flags.ca),
        cert: flags.cert ? pem("--etcd-cert", flags.cert) : undefined,
        key: flags.key ? pem("--etcd-key", flags.key) : undefined,
      }
    : undefined;
  const auth =
    flags.user !== undefined && flags.password !== undefined
      ? { username: flags.user, password: flags.password }
      : undefined;
  return parseEtcdUrl(url, { tls, auth });
}

let ipServernameMuted = false;

/**
 * Drops Node's DEP0123 warning ("Setting the TLS ServerName to an IP address…"), which grpc-js triggers on every
 * TLS connection to an etcd member given by IP address (`etcd://127.0.0.1:2379` with `--etcd-ca`): the user can do
 * nothing about it, and the certificate is still checked against the address. Every other warning is printed.
 */
export function muteIpServernameWarning(): void {
  if (ipServernameMuted) return;
  ipServernameMuted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const code = typeof args[1] === "object" ? (args[1] as { code?: string } | null)?.code : args[2];
    if (code === "DEP0123") return;
    emit(...args);
  }) as typeof process.emitWarning;
}
