import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { WasmletError } from "../core/index.js";
import { clientOf, print } from "./common.js";
import { NOUN_HELP } from "./nouns.js";

/** Credentials per registry host, as `--registry-auth` files hold them. */
export type RegistryAuthFile = Record<string, { username?: string; password?: string; token?: string }>;

/** Reads a `--registry-auth` file: {"host:port": {"username","password"} | {"token"}}, checked field by field. */
export function readRegistryAuth(file: string, option = "--registry-auth"): RegistryAuthFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `${option}: cannot read ${file}: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `${option}: ${file} must hold a JSON object keyed by host:port`,
    );
  const out: RegistryAuthFile = {};
  for (const [host, v] of Object.entries(raw)) {
    const o = (v ?? {}) as Record<string, unknown>;
    const str = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : undefined);
    const [username, password, token] = [str("username"), str("password"), str("token")];
    if (token === undefined && (username === undefined || password === undefined))
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `${option}: "${host}" needs "username" and "password" (strings), or "token"`,
      );
    out[host] = token !== undefined ? { token } : { username, password };
  }
  return out;
}

/**
 * The credentials of `serve --registry`: `--registry-username` (or WASMLET_REGISTRY_USERNAME) with the password
 * from `--registry-password-file` or `--registry-password` (or WASMLET_REGISTRY_PASSWORD). Undefined when none
 * is given; one without the other is refused.
 */
export function readRegistryCredentials(opts: {
  registry?: string;
  registryUsername?: string;
  registryPassword?: string;
  registryPasswordFile?: string;
}): { username: string; password: string } | undefined {
  let password = opts.registryPassword;
  if (opts.registryPasswordFile !== undefined) {
    try {
      password = readFileSync(opts.registryPasswordFile, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `--registry-password-file: cannot read ${opts.registryPasswordFile}: ${(e as Error).message}`,
      );
    }
  }
  const username = opts.registryUsername;
  if (username === undefined && password === undefined) return undefined;
  if (opts.registry === undefined)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "--registry-username/--registry-password: give --registry too",
    );
  if (username === undefined || username === "")
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "--registry-password: give the user too (--registry-username or WASMLET_REGISTRY_USERNAME)",
    );
  if (password === undefined || password === "")
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--registry-username ${username}: give the password too (--registry-password-file, or WASMLET_REGISTRY_PASSWORD)`,
    );
  return { username, password };
}

export function registerRegistry(program: Command): void {
  const registry = program.command("registry").description(NOUN_HELP.registry);
  registry
    .command("gc")
    .description("delete blobs that no tag, manifest, function version or package references")
    .action(async (_o: unknown, cmd: Command) => {
      const r = await clientOf(cmd).registryGc();
      print(`deleted ${r.deletedBlobs} blobs, freed ${r.freedBytes} bytes`);
    });
}
