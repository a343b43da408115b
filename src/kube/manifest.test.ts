import assert from "node:assert/strict";
import { test } from "node:test";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { Pod } from "kubernetes-models/v1";
import { parse } from "yaml";
import { CONTRACT_NAMES, CONTRACTS_FOR, DEFAULT_LIMITS, type FunctionRecord } from "../core/index.js";
import { functionManifest, MANIFEST_KINDS, parseManifestKind } from "./index.js";
import { validateObject } from "./test-support.js";

const digest = `sha256:${"ab".repeat(32)}` as const;
const fn: FunctionRecord = {
  name: "hello",
  contract: "command",
  args: ["20000", "--flag"],
  env: { Z_LAST: "z", GREETING: "hi: there" },
  limits: { ...DEFAULT_LIMITS },
  current: { version: 1, image: "127.0.0.1:8081/functions/hello:v1", digest, createdAt: "" },
  versions: [],
  createdAt: "",
  updatedAt: "",
};
const image = `registry.example:5000/functions/hello@${digest}`;

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by path in the assertions
type Obj = Record<string, any>;
const podOf = (o: Obj): Obj => (o.kind === "Pod" ? o : o.spec.template);

const cases = [
  { kind: "pod", model: Pod, restart: "Never" },
  { kind: "job", model: Job, restart: "Never" },
  { kind: "deployment", model: Deployment, restart: "Always" },
] as const;

for (const c of cases) {
  test(`${c.kind}: valid against the Kubernetes schema, runs the module through crun's wasm handler`, () => {
    const obj = parse(
      functionManifest({ fn, image, entry: "/hello.wasm", kind: c.kind, runtimeClass: "crun" }),
    );
    new c.model(obj).validate();
    const pod = podOf(obj);
    assert.equal(pod.metadata.annotations["module.wasm.image/variant"], "compat-smart");
    assert.equal(pod.spec.runtimeClassName, "crun");
    assert.equal(pod.spec.restartPolicy, c.restart);
    const [container] = pod.spec.containers;
    assert.equal(container.image, image);
    assert.deepEqual(container.command, ["/hello.wasm"]);
    assert.deepEqual(container.args, ["20000", "--flag"]);
    assert.deepEqual(container.env, [
      { name: "GREETING", value: "hi: there" },
      { name: "Z_LAST", value: "z" },
    ]);
    if (c.kind === "job") assert.equal(obj.spec.backoffLimit, 0);
    if (c.kind === "deployment") {
      assert.equal(obj.spec.replicas, 1);
      assert.deepEqual(obj.spec.selector.matchLabels, { "app.kubernetes.io/name": "hello" });
      assert.equal(pod.metadata.labels["app.kubernetes.io/name"], "hello");
    }
  });
}

test("no runtimeClassName unless asked; no args/env keys when the function has none", () => {
  const bare = { ...fn, args: [], env: {} };
  const obj = parse(functionManifest({ fn: bare, image, entry: "/x.wasm" }));
  new Pod(obj).validate();
  assert.equal(obj.kind, "Pod");
  assert.equal("runtimeClassName" in obj.spec, false);
  assert.equal("args" in obj.spec.containers[0], false);
  assert.equal("env" in obj.spec.containers[0], false);
});

test("the schema validation is real: a broken object is rejected", () => {
  const obj = parse(functionManifest({ fn, image, entry: "/hello.wasm", kind: "job" }));
  obj.spec.backoffLimit = "zero";
  assert.throws(() => new Job(obj).validate(), /backoffLimit/);
  const pod = parse(functionManifest({ fn, image, entry: "/hello.wasm" }));
  delete pod.spec.containers[0].name;
  assert.throws(() => new Pod(pod).validate(), /name/);
});

test("bad kind and runtime class names are refused, naming the field", () => {
  assert.throws(() => parseManifestKind("cronjob"), /kind: "cronjob" is not one of pod, job, deployment/);
  assert.equal(parseManifestKind(undefined), "pod");
  assert.throws(
    () => functionManifest({ fn, image, entry: "/hello.wasm", runtimeClass: "Bad_Name" }),
    /runtimeClass: "Bad_Name"/,
  );
});

test("a wagi function gets no manifest: crun runs a module once and has no HTTP front, and the error says so", () => {
  for (const kind of ["pod", "job", "deployment"] as const)
    assert.throws(
      () => functionManifest({ fn: { ...fn, contract: "wagi" }, image, entry: "/hello.wasm", kind }),
      (e: Error) => /contract "wagi".*does not serve HTTP/.test(e.message),
    );
});

// Every contract, every kind, every kind of code that can run it (CONTRACTS_FOR): a manifest that the schema
// accepts for what crun can run (a preview1 `command` module), a refusal that says why for the rest.
for (const contract of CONTRACT_NAMES)
  for (const code of Object.keys(CONTRACTS_FOR) as (keyof typeof CONTRACTS_FOR)[])
    if (CONTRACTS_FOR[code].includes(contract))
      test(`fn manifest, contract ${contract} on a ${code}: ${contract === "command" && code === "module" ? "valid objects of every kind" : "a refusal naming the reason and what serves it"}`, async () => {
        const world = code === "module" ? undefined : code;
        const f: FunctionRecord = { ...fn, contract, current: { ...fn.current, world } };
        for (const kind of MANIFEST_KINDS) {
          const make = () =>
            functionManifest({ fn: f, image, entry: "/hello.wasm", kind, runtimeClass: "crun-wasm" });
          if (contract === "command" && code === "module") {
            const obj = parse(make());
            await validateObject(obj);
            assert.equal(podOf(obj).metadata.annotations["module.wasm.image/variant"], "compat-smart");
            continue;
          }
          assert.throws(make, (e: Error) => {
            assert.match(e.message, /^function "hello" /);
            assert.match(
              e.message,
              contract === "command"
                ? /runs a wasi:cli\/command component: crun's wasm handler runs preview1 modules only/
                : /does not serve HTTP/,
            );
            assert.match(e.message, /router Deployment of deploy\/kubernetes/);
            return true;
          });
        }
      });

test("secrets and configs are referred to by name (volumes, secretKeyRef), never inlined", async () => {
  const withValues: FunctionRecord = {
    ...fn,
    secrets: ["db"],
    configs: ["app"],
    envFrom: {
      DB_PASSWORD: { kind: "secret", name: "db", key: "password" },
      GREETING: { kind: "config", name: "app", key: "greeting" },
    },
  };
  for (const kind of MANIFEST_KINDS) {
    const text = functionManifest({ fn: withValues, image, entry: "/hello.wasm", kind });
    const obj = parse(text);
    await validateObject(obj);
    const pod = podOf(obj);
    assert.deepEqual(pod.spec.volumes, [
      { name: "secret-0", secret: { secretName: "db" } },
      { name: "config-0", configMap: { name: "app" } },
    ]);
    const [container] = pod.spec.containers;
    assert.deepEqual(container.volumeMounts, [
      { name: "secret-0", mountPath: "/secrets/db", readOnly: true },
      { name: "config-0", mountPath: "/configs/app", readOnly: true },
    ]);
    assert.deepEqual(container.env.slice(2), [
      { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
      { name: "GREETING", valueFrom: { configMapKeyRef: { name: "app", key: "greeting" } } },
    ]);
  }
});
