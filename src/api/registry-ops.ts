import type { Digest } from "../core/index.js";
import { WasmletError } from "../core/index.js";
import { sendJson } from "../http/index.js";
import { checkRuntimeClass, functionManifest, parseManifestKind } from "../kube/index.js";
import { parseReference } from "../registry/index.js";
import type { Store } from "../store/index.js";
import type { RouteContext } from "./context.js";
import { functionOr404 } from "./lifecycle.js";

/**
 * Every digest the platform still needs from the registry: each version of each function (rollback can pick
 * any), and each package's source archive and last built image. gc keeps these and all they reference.
 */
export async function registryRoots(store: Store): Promise<Digest[]> {
  const roots: Digest[] = [];
  for (const fn of await store.list("function")) for (const v of fn.versions) roots.push(v.digest);
  for (const p of await store.list("package")) {
    roots.push(p.source.digest);
    if (p.digest) roots.push(p.digest);
  }
  return roots;
}

/** POST /api/v1/registry/gc: one garbage collection pass of the embedded registry; answers what it freed. */
export async function registryGc(ctx: RouteContext): Promise<void> {
  const gc = ctx.deps.collectGarbage;
  if (!gc) throw new WasmletError("UNAVAILABLE", "this server has no embedded registry to collect");
  ctx.req.resume();
  sendJson(ctx.res, 200, await gc(await registryRoots(ctx.deps.store)));
}

/**
 * GET /api/v1/functions/:name/manifest?kind=pod|job|deployment&runtimeClass=NAME: YAML that runs the function's
 * current image on Kubernetes through crun's wasm handler. The image is named by digest; when it lives in the
 * platform's registry (embedded or external), at the address the cluster can reach (`publicRegistry`).
 */
export async function functionManifestYaml(ctx: RouteContext): Promise<void> {
  const q = new URLSearchParams(ctx.rawQuery);
  const kind = parseManifestKind(q.get("kind"));
  const runtimeClass = q.get("runtimeClass") || undefined;
  if (runtimeClass !== undefined) checkRuntimeClass(runtimeClass);
  const fn = await functionOr404(ctx.deps.store, ctx.params[0]);
  const ref = parseReference(fn.current.image);
  const pinned = `${ref.registry}/${ref.repository}@${fn.current.digest}`;
  // registryHost may carry an external registry's repository prefix: the host is what comes before it.
  const registry =
    ref.registry === ctx.deps.registryHost.split("/")[0]
      ? (ctx.deps.publicRegistry ?? ref.registry)
      : ref.registry;
  // The entry path is the image's: crun runs the config's Entrypoint, so the command must name the same file.
  const { entry } = await ctx.deps.registry.pull(pinned);
  const yaml = functionManifest({
    fn,
    image: `${registry}/${ref.repository}@${fn.current.digest}`,
    entry,
    kind,
    runtimeClass,
  });
  ctx.res.writeHead(200, { "content-type": "application/yaml", "content-length": Buffer.byteLength(yaml) });
  ctx.res.end(yaml);
}
