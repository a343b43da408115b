import type { ControlFront } from "../api/index.js";
import { type Digest, type LoadedImage, WasmletError } from "../core/index.js";
import { sendJson } from "../http/index.js";
import {
  type ImageBundle,
  type ImageRegistries,
  type RegistryLocation,
  registryFailureOf,
} from "../registry/index.js";

/** Where the credentials for `serve --registry` come from, for messages that say what to fix. */
export const CREDENTIALS_HINT =
  "--registry-username with --registry-password-file or WASMLET_REGISTRY_PASSWORD, or its entry in --registry-auth";

/** The root cause's message (fetch's "fetch failed" hides ECONNREFUSED, ENOTFOUND, certificate errors). */
function rootMessage(e: unknown): string {
  let cur: unknown = e;
  while (cur instanceof Error && cur.cause instanceof Error) cur = cur.cause;
  return cur instanceof Error ? cur.message : String(cur);
}

/**
 * A failed push to the external registry, told as what the operator has to fix: the registry is unreachable,
 * refuses the credentials, denies the push, or does not know the repository. The function or package the push
 * was for is unchanged: pushes happen before anything is stored.
 */
export function explainPushFailure(e: unknown, registry: RegistryLocation, ref: string): WasmletError {
  const { status, code, unreachable } = registryFailureOf(e);
  const said = e instanceof Error ? e.message : String(e);
  const where = `the external registry ${registry.url}`;
  const tail = "; nothing was changed";
  let message: string;
  if (unreachable)
    message = `${where} cannot be reached (${rootMessage(e)}): check --registry (scheme, host, port) and that the registry is up${tail}`;
  else if (status === 401)
    message = `${where} refused the credentials (HTTP 401${code ? ` ${code}` : ""}): check ${CREDENTIALS_HINT}${tail}`;
  else if (status === 403)
    message = `${where} denied pushing ${ref} (HTTP 403${code ? ` ${code}` : ""}): give the user push rights on the repository${registry.prefix ? ` prefix "${registry.prefix}"` : ""}${tail}`;
  else if (code === "NAME_UNKNOWN" || (status === 404 && code === undefined))
    message = `${where} does not know the repository of ${ref} (HTTP ${status}${code ? ` ${code}` : ""}): create the project or organisation${registry.prefix ? ` "${registry.prefix.split("/")[0]}"` : ""} there (Harbor, ghcr) or fix the prefix in --registry${tail}`;
  else message = `${where} refused the push: ${said}${tail}`;
  return new WasmletError("UNAVAILABLE", message, { cause: e });
}

/** The API's view of the registries when images go to an external one: every failed push is explained. */
export function externalPushes(
  registries: ImageRegistries,
  registry: RegistryLocation,
): {
  push(ref: string, bundle: ImageBundle, content?: Omit<LoadedImage, "digest">): Promise<Digest>;
  resolve(ref: string): Promise<Digest>;
  pull(ref: string): Promise<LoadedImage>;
  blob(ref: string, digest: Digest): Promise<Uint8Array>;
} {
  return {
    push: (ref, bundle, content) =>
      registries.push(ref, bundle, content).catch((e: unknown) => {
        throw explainPushFailure(e, registry, ref);
      }),
    resolve: (ref) => registries.resolve(ref),
    pull: (ref) => registries.pull(ref),
    blob: (ref, digest) => registries.blob(ref, digest),
  };
}

/**
 * `/v2` on the control port when images live in an external registry: 404 with an OCI error that names it, so
 * that a client pushing or pulling here learns where to go.
 */
export function externalRegistryFront(registry: RegistryLocation): ControlFront {
  return {
    handle(req, res) {
      const url = req.url ?? "";
      if (!/^\/v2(\/|\?|$)/.test(url)) return false;
      req.resume();
      sendJson(res, 404, {
        errors: [
          {
            code: "NAME_UNKNOWN",
            message: `this server keeps no images: they are in the external registry ${registry.url} (serve --registry)`,
          },
        ],
      });
      return true;
    },
  };
}
