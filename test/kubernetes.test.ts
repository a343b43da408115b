// deploy/kubernetes and the Dockerfile, checked without a cluster: every object against the Kubernetes schemas
// (kubernetes-models, @kubernetes-models/keda and gateway-api), every reference between objects and files, the
// flags the pods pass `wasmlet serve`, the drain and probe timings; the overlays rendered by `kubectl kustomize`
// when kubectl is on PATH.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { parseAllDocuments } from "yaml";
import { registerServe } from "../src/cli/serve.js";
import { DEFAULT_LIMITS, type FunctionRecord, PROBE_PATHS, READY_PATH } from "../src/core/index.js";
import { functionObject } from "../src/kube/index.js";
import { validateObject } from "../src/kube/test-support.js";
import { ProcessMetrics } from "../src/main/metrics.js";
import { InvocationStats } from "../src/runtime/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEPLOY = join(ROOT, "deploy/kubernetes");

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by path
type Obj = Record<string, any>;

/** Flags of `wasmlet serve` the pods may use before serve has them (none today: every flag must exist). */
const PENDING_FLAGS: string[] = [];
/** Secrets the pods mount and the README tells the user to create (none holds a default credential). */
const SECRETS = ["wasmlet-token", "wasmlet-etcd-tls", "wasmlet-registry-credentials"];

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(name) ? [p] : [];
  });
}

function docsOf(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs)
    if (d.errors.length > 0) throw new Error(`${relative(ROOT, file)}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((d) => d !== null);
}

const FILES = yamlFiles(DEPLOY);
const KUSTOMIZATIONS = FILES.filter((f) => /\/kustomization\.yaml$/.test(f));
/** Files named under a kustomization's `patches`: partial objects (or JSON patches), not whole ones. */
const PATCH_FILES = new Set(
  KUSTOMIZATIONS.flatMap((k) =>
    ((docsOf(k)[0].patches ?? []) as Obj[]).filter((p) => p.path).map((p) => resolve(dirname(k), p.path)),
  ),
);
const RESOURCE_FILES = FILES.filter((f) => !KUSTOMIZATIONS.includes(f) && !PATCH_FILES.has(f));
const OBJECTS: { file: string; obj: Obj }[] = RESOURCE_FILES.flatMap((file) =>
  docsOf(file).map((obj) => ({ file: relative(DEPLOY, file), obj })),
);
const objs = (kind: string) => OBJECTS.filter((o) => o.obj.kind === kind).map((o) => o.obj);
const one = (kind: string, name: string) => {
  const found = objs(kind).filter((o) => o.metadata.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name} (found ${found.length})`);
  return found[0];
};
const WORKLOADS = [...objs("Deployment"), ...objs("StatefulSet"), ...objs("Job")];
const podSpecOf = (w: Obj): Obj => w.spec.template.spec;
const labelsOf = (w: Obj): Record<string, string> => w.spec.template.metadata?.labels ?? {};
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
/** A `command` function named hello, as `fn manifest` gets it. */
const hello = (args: string[]): FunctionRecord => ({
  name: "hello",
  contract: "command",
  args,
  env: {},
  limits: { ...DEFAULT_LIMITS },
  current: { version: 1, image: "x", digest: `sha256:${"0".repeat(64)}`, createdAt: "" },
  versions: [],
  createdAt: "",
  updatedAt: "",
});
/** The pods `fn manifest` prints carry these labels (they are no object of this tree). */
const FUNCTION_POD_LABELS = (
  functionObject({ fn: hello([]), image: "x", entry: "/hello.wasm", kind: "job" }) as Obj
).spec.template.metadata.labels as Record<string, string>;

/** The long flags of `wasmlet serve` as its --help lists them. */
function serveFlags(): Set<string> {
  const program = new Command();
  registerServe(program);
  const serve = program.commands.find((c) => c.name() === "serve");
  assert.ok(serve);
  return new Set(serve.options.map((o) => o.long).filter((l): l is string => l !== undefined));
}

/** The wasmlet containers (the image named `wasmlet`, which kustomize's `images` rewrites). */
const WASMLET = objs("Deployment")
  .filter((d) => podSpecOf(d).containers.some((c: Obj) => c.image === "wasmlet"))
  .map((d) => ({ d, c: podSpecOf(d).containers.find((c: Obj) => c.image === "wasmlet") as Obj }));

test("every YAML file parses and every whole object is valid against its schema", async () => {
  const problems: string[] = [];
  for (const { file, obj } of OBJECTS)
    await validateObject(obj).catch((e: Error) => problems.push(`${file}: ${e.message}`));
  assert.deepEqual(problems, []);
  // What the deployment promises is there.
  const kinds = new Set(OBJECTS.map((o) => o.obj.kind));
  for (const kind of [
    "Deployment",
    "StatefulSet",
    "Service",
    "HorizontalPodAutoscaler",
    "ScaledObject",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Ingress",
    "HTTPRoute",
    "RuntimeClass",
    "Job",
    "PersistentVolumeClaim",
  ])
    assert.ok(kinds.has(kind), `a ${kind} under deploy/kubernetes`);
  assert.equal(one("Deployment", "wasmlet-control").spec.replicas, 2);
  assert.equal(one("StatefulSet", "etcd").spec.replicas, 3);
  assert.equal(one("Service", one("StatefulSet", "etcd").spec.serviceName).spec.clusterIP, "None");
});

test("a broken object is caught: the validation is real", async () => {
  const d = structuredClone(one("Deployment", "wasmlet-router"));
  podSpecOf(d).containers[0].ports[0].containerPort = "http";
  await assert.rejects(validateObject(d), /containerPort must be integer/);
  const so = structuredClone(one("ScaledObject", "wasmlet-router"));
  so.spec.triggers[0].metadata.threshold = 16;
  await assert.rejects(validateObject(so), /threshold must be string/);
});

/** The documents of one `patches` entry: its file, or the inline patch. */
function patchDocs(dir: string, patch: Obj): Obj[] | undefined {
  if (typeof patch.patch === "string") return parseAllDocuments(patch.patch).map((d) => d.toJS() as Obj);
  const p = resolve(dir, patch.path ?? "");
  return patch.path && existsSync(p) ? docsOf(p) : undefined;
}

/**
 * Every object a kustomization builds (by kind/name), following resources and components (applied to what their
 * parent has built so far, as kustomize does), with deletions applied; each patch must have a target, and each
 * JSON patch op a parent to change.
 */
function build(dir: string, problems: string[], inherited = new Map<string, Obj>()): Map<string, Obj> {
  const file = join(dir, "kustomization.yaml");
  const out = new Map(inherited);
  if (!existsSync(file)) {
    problems.push(`${relative(DEPLOY, dir)}: no kustomization.yaml`);
    return out;
  }
  const k = docsOf(file)[0];
  const add = (o: Obj) => out.set(`${o.kind}/${o.metadata.name}`, o);
  const where = relative(DEPLOY, file);
  const kindAt = (p: string) =>
    existsSync(join(p, "kustomization.yaml")) && docsOf(join(p, "kustomization.yaml"))[0].kind;
  for (const r of (k.resources ?? []) as string[]) {
    const p = resolve(dir, r);
    if (!existsSync(p)) problems.push(`${where}: resource ${r} does not exist`);
    else if (statSync(p).isDirectory()) {
      if (kindAt(p) !== "Kustomization") problems.push(`${where}: resource ${r} is not a Kustomization`);
      for (const o of build(p, problems).values()) add(o);
    } else for (const o of docsOf(p)) add(o);
  }
  for (const c of (k.components ?? []) as string[]) {
    const p = resolve(dir, c);
    if (kindAt(p) !== "Component") problems.push(`${where}: component ${c} is not a Component`);
    else {
      const after = build(p, problems, out);
      out.clear();
      for (const [key, o] of after) out.set(key, o);
    }
  }
  for (const patch of (k.patches ?? []) as Obj[]) {
    const docs = patchDocs(dir, patch);
    const what = patch.path ?? "(inline)";
    if (!docs) {
      problems.push(`${where}: patch ${what} does not exist`);
      continue;
    }
    if (patch.target) {
      const name = new RegExp(`^(${patch.target.name})$`);
      const targets = [...out.values()].filter(
        (o) => o.kind === patch.target.kind && name.test(o.metadata.name),
      );
      if (targets.length === 0) problems.push(`${where}: patch ${what} targets nothing`);
      for (const t of targets)
        for (const op of docs.flat() as Obj[]) {
          let at: unknown = t;
          for (const seg of (op.path as string).split("/").slice(1, -1)) at = (at as Obj | undefined)?.[seg];
          if (at === undefined || at === null)
            problems.push(`${where}: ${what}: ${op.path} has no parent in ${t.kind}/${t.metadata.name}`);
        }
      continue;
    }
    for (const d of docs) {
      const key = `${d.kind}/${d.metadata?.name}`;
      if (!out.has(key)) problems.push(`${where}: patch ${what} targets ${key}, which is not built here`);
      else if (d.$patch === "delete") out.delete(key);
    }
  }
  return out;
}

test("every kustomization names existing files of the right kind, and every patch has a target", () => {
  const problems: string[] = [];
  const built = new Map<string, Map<string, Obj>>();
  // Components are checked where they are used (their patches need their parent's objects).
  for (const k of KUSTOMIZATIONS)
    if (docsOf(k)[0].kind === "Kustomization")
      built.set(relative(DEPLOY, dirname(k)), build(dirname(k), problems));
  assert.deepEqual(problems, []);
  // Every resource file is in some kustomization, except the templates under examples/.
  const named = new Set(
    KUSTOMIZATIONS.flatMap((k) =>
      ((docsOf(k)[0].resources ?? []) as string[]).map((r) => resolve(dirname(k), r)),
    ),
  );
  for (const f of RESOURCE_FILES)
    if (!f.includes("/examples/")) assert.ok(named.has(f), `${relative(DEPLOY, f)} is in no kustomization`);
  const keys = (dir: string) => [...(built.get(dir)?.keys() ?? [])];
  assert.ok(keys("overlays/example").includes("HTTPRoute/wasmlet"));
  assert.ok(keys("overlays/example").includes("HorizontalPodAutoscaler/wasmlet-router"));
  assert.ok(keys("overlays/example-keda").includes("ScaledObject/wasmlet-router"));
  assert.ok(
    !keys("overlays/example-keda").includes("HorizontalPodAutoscaler/wasmlet-router"),
    "KEDA owns the HPA",
  );
  assert.ok(!keys("overlays/external").includes("StatefulSet/etcd"));
  assert.ok(
    !keys("overlays/external").includes("PersistentVolumeClaim/wasmlet-registry"),
    "images in the external registry: no claim for the embedded one",
  );
  assert.ok(keys("overlays/example").includes("PersistentVolumeClaim/wasmlet-registry"));
});

/** What in `all` names something that is not there: selectors, ports, volumes, claims, keys, targets, backends. */
function referenceProblems(all: Obj[]): string[] {
  const objs = (kind: string) => all.filter((o) => o.kind === kind);
  const WORKLOADS = [...objs("Deployment"), ...objs("StatefulSet"), ...objs("Job")];
  const podsMatching = (selector: Record<string, string>) => [
    ...WORKLOADS.filter((w) => matches(selector, labelsOf(w))),
    ...(matches(selector, FUNCTION_POD_LABELS) ? ["pods of fn manifest"] : []),
  ];
  const problems: string[] = [];
  const say = (what: string, ok: boolean) => {
    if (!ok) problems.push(what);
  };
  for (const w of WORKLOADS) {
    const name = `${w.kind}/${w.metadata.name}`;
    if (w.spec.selector)
      say(`${name}: selector does not match its pods`, matches(w.spec.selector.matchLabels, labelsOf(w)));
    const spec = podSpecOf(w);
    const volumes = new Set((spec.volumes ?? []).map((v: Obj) => v.name));
    for (const v of spec.volumes ?? []) {
      if (v.persistentVolumeClaim)
        say(
          `${name}: no PVC ${v.persistentVolumeClaim.claimName}`,
          objs("PersistentVolumeClaim").some((p) => p.metadata.name === v.persistentVolumeClaim.claimName),
        );
      if (v.secret)
        say(
          `${name}: Secret ${v.secret.secretName} is not one the README names`,
          SECRETS.includes(v.secret.secretName),
        );
    }
    for (const t of w.spec.volumeClaimTemplates ?? []) volumes.add(t.metadata.name);
    if (spec.serviceAccountName)
      say(
        `${name}: no ServiceAccount ${spec.serviceAccountName}`,
        objs("ServiceAccount").some((s) => s.metadata.name === spec.serviceAccountName),
      );
    if (spec.runtimeClassName)
      say(
        `${name}: no RuntimeClass ${spec.runtimeClassName}`,
        objs("RuntimeClass").some((r) => r.metadata.name === spec.runtimeClassName),
      );
    for (const c of spec.containers) {
      for (const m of c.volumeMounts ?? [])
        say(`${name}: mount of unknown volume ${m.name}`, volumes.has(m.name));
      const env = new Set((c.env ?? []).map((e: Obj) => e.name));
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.configMapKeyRef;
        if (ref) {
          const cm = objs("ConfigMap").find((m) => m.metadata.name === ref.name);
          say(`${name}: ConfigMap ${ref.name} has no key ${ref.key}`, cm?.data?.[ref.key] !== undefined);
        }
      }
      for (const a of [...(c.args ?? []), ...(c.command ?? [])])
        for (const [, v] of (a as string).matchAll(/\$\(([A-Z_]+)\)/g))
          say(`${name}: $(${v}) is not in its env`, env.has(v));
      const ports = new Set((c.ports ?? []).map((p: Obj) => p.name));
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"])
        if (c[probe]?.httpGet && typeof c[probe].httpGet.port === "string")
          say(`${name}: ${probe} on unknown port ${c[probe].httpGet.port}`, ports.has(c[probe].httpGet.port));
    }
  }
  for (const s of objs("Service")) {
    const pods = WORKLOADS.filter((w) => matches(s.spec.selector, labelsOf(w)));
    say(`Service ${s.metadata.name} selects no pods`, pods.length > 0);
    for (const p of s.spec.ports)
      for (const w of pods)
        say(
          `Service ${s.metadata.name}: ${w.metadata.name} has no port ${p.targetPort}`,
          podSpecOf(w).containers.some((c: Obj) =>
            (c.ports ?? []).some((cp: Obj) => cp.name === p.targetPort || cp.containerPort === p.targetPort),
          ),
        );
  }
  for (const p of objs("PodDisruptionBudget"))
    say(`PDB ${p.metadata.name} selects no pods`, podsMatching(p.spec.selector.matchLabels).length > 0);
  for (const n of objs("NetworkPolicy")) {
    const sel = n.spec.podSelector.matchLabels;
    if (sel) say(`NetworkPolicy ${n.metadata.name} selects no pods`, podsMatching(sel).length > 0);
    for (const rule of [...(n.spec.ingress ?? []), ...(n.spec.egress ?? [])])
      for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])])
        if (peer.podSelector?.matchLabels && !peer.namespaceSelector)
          say(
            `NetworkPolicy ${n.metadata.name}: a peer selects no pods`,
            podsMatching(peer.podSelector.matchLabels).length > 0,
          );
  }
  for (const a of [...objs("HorizontalPodAutoscaler"), ...objs("ScaledObject")])
    say(
      `${a.kind} ${a.metadata.name}: no Deployment ${a.spec.scaleTargetRef.name}`,
      objs("Deployment").some((d) => d.metadata.name === a.spec.scaleTargetRef.name),
    );
  const servicePort = (name: string, port: string | number) =>
    objs("Service").some(
      (s) => s.metadata.name === name && s.spec.ports.some((p: Obj) => p.name === port || p.port === port),
    );
  for (const i of objs("Ingress"))
    for (const r of i.spec.rules)
      for (const p of r.http.paths) {
        const b = p.backend.service;
        say(
          `Ingress ${i.metadata.name}: no Service port ${b.name}:${b.port.name ?? b.port.number}`,
          servicePort(b.name, b.port.name ?? b.port.number),
        );
      }
  for (const h of objs("HTTPRoute"))
    for (const r of h.spec.rules)
      for (const b of r.backendRefs)
        say(`HTTPRoute ${h.metadata.name}: no Service port ${b.name}:${b.port}`, servicePort(b.name, b.port));
  return problems;
}

test("selectors, ports, names and keys point at what exists", () => {
  assert.deepEqual(referenceProblems(OBJECTS.map((o) => o.obj)), []);
  // The control port is closed to functions: the router pods' egress reaches it by one rule, to the control pods'
  // port only; the function pods' egress never reaches a private address.
  const fnPolicy = objs("NetworkPolicy").find(
    (n) =>
      matches(n.spec.podSelector.matchLabels ?? {}, FUNCTION_POD_LABELS) && n.spec.podSelector.matchLabels,
  );
  assert.ok(fnPolicy, "a NetworkPolicy for the pods of fn manifest");
  assert.ok(fnPolicy.spec.policyTypes.includes("Egress"));
  for (const rule of fnPolicy.spec.egress)
    for (const peer of rule.to) {
      assert.equal(peer.podSelector, undefined, "function pods reach no pod by label");
      if (peer.ipBlock) assert.ok(peer.ipBlock.except.includes("10.0.0.0/8"));
    }
});

test("the wasmlet pods: flags serve knows, probes it answers, a grace period longer than the drain, no privilege", () => {
  const known = serveFlags();
  for (const f of [
    "--listen",
    "--control",
    "--token-file",
    "--data-dir",
    "--drain-timeout",
    "--public-registry",
  ])
    assert.ok(known.has(f), `serve has ${f}`);
  const config = one("ConfigMap", "wasmlet-config").data;
  // Flags appended by the components' JSON patches count too.
  const patched = KUSTOMIZATIONS.flatMap((k) =>
    ((docsOf(k)[0].patches ?? []) as Obj[])
      .filter((p) => p.target?.kind === "Deployment")
      .flatMap((p) =>
        (docsOf(resolve(dirname(k), p.path)).flat() as Obj[])
          .filter((op) => op.path.endsWith("/args/-"))
          .map((op) => op.value as string),
      ),
  );
  assert.ok(patched.some((a) => a.startsWith("--etcd-ca=")));
  for (const f of ["--registry=", "--registry-username=", "--registry-password-file="])
    assert.ok(
      patched.some((a) => a.startsWith(f)),
      `components/external-registry passes ${f}`,
    );
  assert.equal(WASMLET.length, 2);
  for (const { d, c } of WASMLET) {
    const name = d.metadata.name;
    for (const a of [...c.args, ...patched]) {
      const m = /^(--[a-z][a-z-]*)(=.*)?$/.exec(a);
      assert.ok(m, `${name}: "${a}" is a --flag or --flag=value`);
      assert.ok(
        known.has(m[1]) || PENDING_FLAGS.includes(m[1]),
        `${name}: ${m[1]} is a flag of wasmlet serve`,
      );
    }
    const role = c.args.find((a: string) => a.startsWith("--role="))?.slice("--role=".length);
    assert.equal(role, labelsOf(d)["app.kubernetes.io/component"], `${name}: its role is its component`);
    // The drain must end before the kubelet kills: preStop pause + drain timeout < grace period.
    const drain = /^--drain-timeout=\$\(WASMLET_DRAIN_TIMEOUT\)$/.test(
      c.args.find((a: string) => a.startsWith("--drain-timeout")) ?? "",
    )
      ? Number(config["drain-timeout"])
      : Number.NaN;
    const pause = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    const grace = podSpecOf(d).terminationGracePeriodSeconds;
    assert.ok(
      drain > 0 && pause + drain < grace,
      `${name}: pause ${pause} s + drain ${drain} s < grace ${grace} s`,
    );
    // Readiness on a path that turns 503 when the drain starts; liveness on one that stays 200 through it.
    assert.ok(["/healthz", READY_PATH].includes(c.readinessProbe.httpGet.path), `${name}: readiness path`);
    assert.equal(c.livenessProbe.httpGet.path, "/livez");
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe])
      assert.ok(PROBE_PATHS.includes(p.httpGet.path));
    assert.ok(c.resources?.requests?.cpu && c.resources?.limits?.memory, `${name}: resources`);
  }
  for (const w of WORKLOADS) {
    const spec = podSpecOf(w);
    assert.equal(spec.securityContext?.runAsNonRoot, true, `${w.metadata.name}: runAsNonRoot`);
    for (const c of spec.containers) {
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${w.metadata.name}/${c.name}`);
      assert.deepEqual(c.securityContext?.capabilities?.drop, ["ALL"], `${w.metadata.name}/${c.name}`);
    }
  }
});

test("the KEDA query reads metrics the server exports", async () => {
  const names = new Set(
    (
      await new ProcessMetrics(new InvocationStats(), { load: () => [].values() }).registry.getMetricsAsJSON()
    ).map((m) => m.name),
  );
  const queries = [
    ...objs("ScaledObject"),
    ...[...PATCH_FILES].flatMap(docsOf).filter((d) => d.kind === "ScaledObject"),
  ].flatMap((s) => s.spec.triggers.map((t: Obj) => t.metadata.query as string));
  assert.ok(queries.length >= 2);
  for (const q of queries) {
    const used = [...q.matchAll(/\b(wasmlet_[a-z_]+)\{/g)].map((m) => m[1]);
    assert.ok(used.length > 0, q);
    for (const n of used) assert.ok(names.has(n), `${n} is a metric of /metrics`);
  }
});

test("the Job template runs a command function as fn manifest prints it", () => {
  const job = one("Job", "hello");
  const printed = functionObject({
    fn: hello(["20000"]),
    image: podSpecOf(job).containers[0].image,
    entry: "/hello.wasm",
    kind: "job",
    runtimeClass: "crun-wasm",
  }) as Obj;
  assert.deepEqual(job.spec.template.metadata, printed.spec.template.metadata);
  assert.equal(podSpecOf(job).runtimeClassName, printed.spec.template.spec.runtimeClassName);
  const [c] = podSpecOf(job).containers;
  const [p] = printed.spec.template.spec.containers;
  assert.deepEqual([c.image, c.command, c.args], [p.image, p.command, p.args]);
  assert.equal(one("RuntimeClass", "crun-wasm").handler, "crun");
});

const kubectl = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

test("every overlay renders with kubectl kustomize into valid objects that reference each other", {
  skip: kubectl
    ? false
    : "kubectl is not on PATH: the overlays are not rendered (the checks above still ran)",
}, async () => {
  for (const overlay of readdirSync(join(DEPLOY, "overlays"))) {
    const out = execFileSync("kubectl", ["kustomize", join(DEPLOY, "overlays", overlay)], {
      encoding: "utf8",
    });
    const docs = parseAllDocuments(out).map((d) => d.toJS() as Obj);
    for (const d of docs)
      await validateObject(d).catch((e: Error) => assert.fail(`${overlay}: ${e.message}`));
    assert.deepEqual(referenceProblems(docs), [], overlay);
    const known = serveFlags();
    for (const d of docs.filter((o) => o.kind === "Deployment")) {
      assert.equal(d.metadata.namespace, "wasmlet");
      const [c] = podSpecOf(d).containers;
      // The overlay's image, not the base's placeholder.
      assert.equal(c.image, "registry.example.com/platform/wasmlet:0.1.0", `${overlay}: ${d.metadata.name}`);
      for (const a of c.args as string[]) {
        const flag = a.split("=")[0];
        assert.ok(known.has(flag) || PENDING_FLAGS.includes(flag), `${overlay}: ${flag}`);
      }
      // The external registry and its credentials reach control and router pods alike.
      if (overlay === "external")
        for (const f of ["--registry", "--registry-username", "--registry-password-file"])
          assert.ok(
            (c.args as string[]).some((a) => a.startsWith(`${f}=`)),
            `${overlay}: ${d.metadata.name} passes ${f}`,
          );
    }
  }
});

/** Dockerfile instructions, continuation lines joined and comments dropped. */
function dockerfile(): { op: string; arg: string }[] {
  return readFileSync(join(ROOT, "Dockerfile"), "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), arg: rest.join(" ") };
    });
}

test("the Dockerfile: node 20 bookworm-slim, non-root, wasmlet serve as entrypoint with known flags, files it copies exist", () => {
  const steps = dockerfile();
  const all = (op: string) => steps.filter((s) => s.op === op).map((s) => s.arg);
  const last = (op: string) => all(op).at(-1) ?? "";
  for (const from of all("FROM")) assert.match(from, /^node:20-bookworm-slim( AS \w+)?$/);
  const user = last("USER");
  assert.match(user, /^[1-9]\d*(:\d+)?$/, "a numeric non-root user (runAsNonRoot can check it)");
  assert.equal(last("STOPSIGNAL"), "SIGTERM");
  assert.deepEqual(all("EXPOSE").join(" ").split(" ").sort(), ["8080", "8081"]);
  const entry = JSON.parse(last("ENTRYPOINT")) as string[];
  assert.deepEqual(entry.slice(-2), ["wasmlet", "serve"]);
  const known = serveFlags();
  for (const a of JSON.parse(last("CMD")) as string[])
    if (a.startsWith("--")) assert.ok(known.has(a), `CMD: ${a} is a flag of wasmlet serve`);
  assert.ok(
    PROBE_PATHS.some((p) => last("HEALTHCHECK").includes(p)),
    "the health check asks a probe path",
  );
  assert.ok(all("RUN").some((r) => /npm ci\b/.test(r) && /npm prune --omit=dev/.test(r)));
  const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const copy of all("COPY").filter((c) => !c.startsWith("--from"))) {
    const sources = copy.split(/\s+/).slice(0, -1);
    for (const s of sources) {
      assert.ok(existsSync(join(ROOT, s)), `COPY ${s}: exists`);
      const top = s.replace(/\/$/, "").split("/")[0];
      assert.ok(
        !ignored.includes(top) && !ignored.includes(s.replace(/\/$/, "")),
        `COPY ${s}: not in .dockerignore`,
      );
    }
  }
});
