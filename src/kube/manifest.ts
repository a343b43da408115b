import { stringify } from "yaml";
import { type FunctionRecord, VALUE_DIRS, WasmletError } from "../core/index.js";

export const MANIFEST_KINDS = ["pod", "job", "deployment"] as const;
export type ManifestKind = (typeof MANIFEST_KINDS)[number];

/** The annotation crun's wasm handler looks for on a pod (and the value wasmlet's images are built for). */
export const CRUN_WASM_ANNOTATIONS = Object.freeze({ "module.wasm.image/variant": "compat-smart" });

/** A DNS-1123 subdomain, what Kubernetes accepts as a RuntimeClass name. */
const RUNTIME_CLASS_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface ManifestInput {
  /** The function whose current version runs: its name, args and env go into the object. */
  fn: FunctionRecord;
  /** Image reference pinned to the digest, at an address the cluster can pull from (`host:port/repo@sha256:…`). */
  image: string;
  /** Path of the module inside the image (its Entrypoint), e.g. `/hello.wasm`: the container's command. */
  entry: string;
  /** Object kind; default `pod`. */
  kind?: ManifestKind;
  /** `spec.runtimeClassName` of the pod, e.g. `crun`; omitted when not given. */
  runtimeClass?: string;
}

/** Checks a kind given as text (query parameter, CLI option). */
export function parseManifestKind(kind: string | undefined | null): ManifestKind {
  if (kind === undefined || kind === null || kind === "") return "pod";
  if (!(MANIFEST_KINDS as readonly string[]).includes(kind))
    throw new WasmletError("INVALID_ARGUMENT", `kind: "${kind}" is not one of ${MANIFEST_KINDS.join(", ")}`);
  return kind as ManifestKind;
}

export function checkRuntimeClass(name: string): string {
  if (name.length > 253 || !RUNTIME_CLASS_RE.test(name))
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `runtimeClass: "${name}" is not a valid RuntimeClass name (lower-case DNS subdomain)`,
    );
  return name;
}

/**
 * The Kubernetes object (as plain JSON data) that runs the function's image once through crun's wasm handler:
 * the pod carries `module.wasm.image/variant: compat-smart`, its container runs the module with the function's
 * args and env, as `wasmlet serve` would run it for a request with no body.
 */
export function functionObject(input: ManifestInput): Record<string, unknown> {
  const { fn } = input;
  const kind = input.kind ?? "pod";
  // crun's wasm handler runs `_start` once with the container's args and env: it has no HTTP front, so a wagi
  // function (which answers requests through CGI) would run once with no request and, in a Deployment, restart
  // forever. Refused rather than generated.
  if (fn.contract !== "command")
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `function "${fn.name}" has contract "${fn.contract}": crun's wasm handler runs a module once, it does not serve HTTP, so only "command" functions get a manifest (serve ${fn.contract} functions with wasmlet serve: on Kubernetes, the router Deployment of deploy/kubernetes)`,
    );
  // crun + WasmEdge cannot run components (crun#1871).
  if (fn.current.world !== undefined)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `function "${fn.name}" runs a ${fn.current.world} component: crun's wasm handler runs preview1 modules only, so it gets no manifest (serve it with wasmlet serve: on Kubernetes, the router Deployment of deploy/kubernetes)`,
    );
  if (input.runtimeClass !== undefined) checkRuntimeClass(input.runtimeClass);
  const labels = { "app.kubernetes.io/name": fn.name, "app.kubernetes.io/managed-by": "wasmlet" };
  const container: Record<string, unknown> = { name: fn.name, image: input.image, command: [input.entry] };
  if (fn.args.length > 0) container.args = [...fn.args];
  const byName = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);
  const env: Record<string, unknown>[] = Object.entries(fn.env)
    .sort(byName)
    .map(([name, value]) => ({ name, value }));
  // Secrets and configs by name only: the cluster's Secrets and ConfigMaps of the same names hold the values.
  for (const [name, ref] of Object.entries(fn.envFrom ?? {}).sort(byName))
    env.push({
      name,
      valueFrom:
        ref.kind === "secret"
          ? { secretKeyRef: { name: ref.name, key: ref.key } }
          : { configMapKeyRef: { name: ref.name, key: ref.key } },
    });
  if (env.length > 0) container.env = env;
  const { volumes, mounts } = valueVolumes(fn);
  if (mounts.length > 0) container.volumeMounts = mounts;
  const podSpec = (restartPolicy: "Never" | "Always"): Record<string, unknown> => ({
    ...(input.runtimeClass !== undefined ? { runtimeClassName: input.runtimeClass } : {}),
    restartPolicy,
    containers: [container],
    ...(volumes.length > 0 ? { volumes } : {}),
  });
  const podMeta = { labels, annotations: { ...CRUN_WASM_ANNOTATIONS } };
  switch (kind) {
    case "pod":
      return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: fn.name, ...podMeta },
        spec: podSpec("Never"),
      };
    case "job":
      return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: fn.name, labels },
        spec: { backoffLimit: 0, template: { metadata: podMeta, spec: podSpec("Never") } },
      };
    case "deployment":
      return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: fn.name, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: { "app.kubernetes.io/name": fn.name } },
          template: { metadata: podMeta, spec: podSpec("Always") },
        },
      };
  }
}

/**
 * The function's secrets and configs as volumes of the Kubernetes Secrets and ConfigMaps of the same names,
 * mounted read-only where wasmlet mounts them (`/secrets/<name>`, `/configs/<name>`: Fission's layout). Volume
 * names are numbered: a DNS label could not hold every wasmlet name with a prefix.
 */
function valueVolumes(fn: FunctionRecord): { volumes: object[]; mounts: object[] } {
  const volumes: object[] = [];
  const mounts: object[] = [];
  for (const [i, name] of (fn.secrets ?? []).entries()) {
    volumes.push({ name: `secret-${i}`, secret: { secretName: name } });
    mounts.push({ name: `secret-${i}`, mountPath: `${VALUE_DIRS.secret}/${name}`, readOnly: true });
  }
  for (const [i, name] of (fn.configs ?? []).entries()) {
    volumes.push({ name: `config-${i}`, configMap: { name } });
    mounts.push({ name: `config-${i}`, mountPath: `${VALUE_DIRS.config}/${name}`, readOnly: true });
  }
  return { volumes, mounts };
}

/** functionObject() as YAML, ready for `kubectl apply -f -`. */
export function functionManifest(input: ManifestInput): string {
  return stringify(functionObject(input));
}
