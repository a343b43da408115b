// `wasmlet registry gc` and `fn manifest` against a real server: gc frees what no function pins and never what
// one does (even with its tag and manifest gone from the registry); the manifest YAML passes the Kubernetes schemas.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Job } from "kubernetes-models/batch/v1";
import { Pod } from "kubernetes-models/v1";
import { parse } from "yaml";
import { cli, example, fixture, type Server, show, startServer } from "./harness.js";

let server: Server;
let dataDir: string;
/** serve on `dataDir` with gc on demand only (no grace, no background sweep) and a public registry name. */
const start = () =>
  startServer(dataDir, [
    "--gc-grace",
    "0",
    "--gc-interval",
    "0",
    "--public-registry",
    "registry.example:5000",
  ]);

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "wasmlet-gc-"));
  server = await start();
});
after(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const blobFile = (digest: string) =>
  join(dataDir, "registry", "blobs", "sha256", digest.slice(7, 9), digest.slice(7));

async function fn(
  name: string,
): Promise<{ current: { digest: string; image: string }; versions: { digest: string }[] }> {
  const r = await cli(server, "fn", "get", "--name", name, "-o", "json");
  assert.equal(r.code, 0, show(r));
  return JSON.parse(r.stdout);
}

/** Deletes a function image's manifest from the embedded registry, which must answer 202. */
async function deleteManifest(fn: string, digest: string): Promise<void> {
  const res = await fetch(`${server.controlUrl}/v2/functions/${fn}/manifests/${digest}`, {
    method: "DELETE",
  });
  assert.equal(res.status, 202);
}

test("registry gc deletes a deleted function's image and keeps every version a function pins", async () => {
  for (const args of [
    ["create", "--name", "keep", "--code", example("hello/hello.wasm")],
    ["update", "--name", "keep", "--code", fixture("readfile.wasm")],
    ["create", "--name", "doomed", "--code", fixture("state.wasm")],
  ]) {
    const r = await cli(server, "fn", ...args);
    assert.equal(r.code, 0, show(r));
  }
  const keep = await fn("keep");
  const doomed = await fn("doomed");
  assert.equal((await cli(server, "fn", "delete", "--name", "doomed")).code, 0);
  // Deleting a function leaves its tags; untagging its image is what makes it garbage.
  await deleteManifest("doomed", doomed.current.digest);
  // Untag and delete both versions of "keep" from the registry: only the function's pins keep them alive.
  for (const v of keep.versions) await deleteManifest("keep", v.digest);
  const gc = await cli(server, "registry", "gc");
  assert.equal(gc.code, 0, show(gc));
  const [, deleted, freed] = /deleted (\d+) blobs, freed (\d+) bytes/.exec(gc.stdout) ?? [];
  assert.equal(Number(deleted), 3, "doomed's manifest, config and layer");
  assert.ok(Number(freed) > 0);
  assert.equal(existsSync(blobFile(doomed.current.digest)), false);
  for (const v of keep.versions) assert.equal(existsSync(blobFile(v.digest)), true, `${v.digest} is pinned`);
  assert.match((await cli(server, "registry", "gc")).stdout, /deleted 0 blobs/);

  // After a restart the pinned version still runs, read from the registry's disk by digest.
  await server.stop();
  server = await start();
  const t = await cli(server, "fn", "test", "--name", "keep");
  assert.equal(t.code, 0, show(t));
  assert.match(t.stdout, /^greeting: absent\n/);
});

test("fn manifest prints a Job and a Pod that pass the Kubernetes schemas and run the image by digest", async () => {
  const c = await cli(
    server,
    "fn",
    "create",
    "--name",
    "hello-k8s",
    "--code",
    example("hello/hello.wasm"),
    "--arg",
    "20000",
    "--env",
    "GREETING=hi",
  );
  assert.equal(c.code, 0, show(c));
  const rec = await fn("hello-k8s");
  const job = await cli(
    server,
    "fn",
    "manifest",
    "--name",
    "hello-k8s",
    "--kind",
    "job",
    "--runtime-class",
    "crun",
  );
  assert.equal(job.code, 0, show(job));
  const obj = parse(job.stdout);
  new Job(obj).validate();
  const pod = obj.spec.template;
  assert.equal(pod.metadata.annotations["module.wasm.image/variant"], "compat-smart");
  assert.equal(pod.spec.runtimeClassName, "crun");
  const [container] = pod.spec.containers;
  assert.deepEqual(container.command, ["/hello-k8s.wasm"]);
  assert.deepEqual(container.args, ["20000"]);
  assert.deepEqual(container.env, [{ name: "GREETING", value: "hi" }]);
  assert.equal(container.image, `registry.example:5000/functions/hello-k8s@${rec.current.digest}`);

  const p = parse((await cli(server, "fn", "manifest", "--name", "hello-k8s")).stdout);
  new Pod(p).validate();
  assert.equal(p.kind, "Pod");
  const bad = await cli(server, "fn", "manifest", "--name", "hello-k8s", "--kind", "cronjob");
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /cronjob/);
});
