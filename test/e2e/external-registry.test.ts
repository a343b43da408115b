// An external registry as the platform's image storage: Debian's docker-registry behind htpasswd basic auth, a
// real 3-member etcd, a control node (127.0.0.1) pushing there and a router node (127.0.0.2) pulling from it.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { BUILDERS } from "../../src/build/index.js";
import { unpackArchive } from "../../src/client/index.js";
import { EtcdCluster, etcdMissing } from "../../src/store/test-support.js";
import { type DockerRegistry, hasDockerRegistry, startDockerRegistry } from "./docker-registry.js";
import { BIN, cli, example, type NodeProc, show, startNode, waitFor } from "./harness.js";

const skip =
  etcdMissing() ?? (hasDockerRegistry() ? false : "needs docker-registry (apt-get install docker-registry)");
const cReady = await BUILDERS.c.detect();
const USER = "alice";
const PASSWORD = "s3cret-pass";

/** `serve` on etcd with the given role and extra flags; resolves its router and control URLs once it is up. */
async function node(
  dir: string,
  store: string,
  host: string,
  role: "control" | "router",
  extra: string[],
  env: Record<string, string> = {},
): Promise<NodeProc<{ router?: string; control: string }>> {
  // The child copies the environment when it is spawned: credentials given that way reach only this node.
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await startNode(
      [BIN, "serve", "--data-dir", dir, "--store", store, "--role", role].concat(
        ["--listen", `${host}:0`, "--control", `${host}:0`],
        extra,
      ),
      (out) => {
        const control =
          /(?:control API|control port \(health, metrics; --role router\)) on (http:\/\/\S+?);?\s/.exec(
            out,
          )?.[1];
        const router = /router on (http:\/\/\S+)/.exec(out)?.[1];
        if (!control || (role === "router" && !router)) return undefined;
        return { control, router };
      },
      { label: `wasmlet serve --role ${role}` },
    );
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** GET on docker-registry's API with alice's basic credentials. */
async function registryGet(reg: DockerRegistry, path: string, accept?: string): Promise<Response> {
  const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
  return fetch(`http://${reg.host}/v2/${path}`, {
    headers: { authorization, ...(accept ? { accept } : {}) },
  });
}

test("serve --registry URL: images pushed to docker-registry with basic auth, served by a router node; wrong credentials change nothing", {
  skip,
  timeout: 60_000,
}, async () => {
  const work = mkdtempSync(join(tmpdir(), "wasmlet-extreg-"));
  const procs: NodeProc<unknown>[] = [];
  let etcd: EtcdCluster | undefined;
  let reg: DockerRegistry | undefined;
  try {
    [etcd, reg] = await Promise.all([
      EtcdCluster.start(),
      startDockerRegistry(`${USER}:${bcrypt.hashSync(PASSWORD, 8)}\n`),
    ]);
    const store = `etcd://${etcd.endpoints.map((e) => new URL(e).host).join(",")}`;
    const url = `http://${reg.host}/myorg`;
    const passwordFile = join(work, "password");
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    // The control node takes its credentials from the environment, the router from flags and a file.
    const control = await node(
      join(work, "control"),
      store,
      "127.0.0.1",
      "control",
      ["--registry", url, "--public-registry", "nodes.example:5000"],
      {
        WASMLET_REGISTRY_USERNAME: USER,
        WASMLET_REGISTRY_PASSWORD: PASSWORD,
      },
    );
    procs.push(control);
    const router = await node(join(work, "router"), store, "127.0.0.2", "router", [
      "--registry",
      url,
      "--registry-username",
      USER,
      "--registry-password-file",
      passwordFile,
    ]);
    procs.push(router);
    assert.match(control.output(), new RegExp(`external registry ${url.replace(/\./g, "\\.")}`));
    const server = { controlUrl: control.ready.control };

    const c = await cli(
      server,
      "fn",
      "create",
      "--name",
      "hello",
      "--code",
      example("hello/hello.wasm"),
      "--arg",
      "7",
    );
    assert.equal(c.code, 0, show(c));
    const r = await cli(
      server,
      "route",
      "create",
      "--name",
      "hello",
      "--function",
      "hello",
      "--prefix",
      "/hello",
    );
    assert.equal(r.code, 0, show(r));
    const fn = JSON.parse((await cli(server, "fn", "get", "--name", "hello", "-o", "json")).stdout);
    assert.equal(
      fn.current.image,
      `${reg.host}/myorg/functions/hello:v1`,
      "the image names the external registry",
    );

    // The image is in docker-registry, under the prefix, with the digest the function is pinned to.
    const tags = await registryGet(reg, "myorg/functions/hello/tags/list");
    assert.equal(tags.status, 200);
    assert.deepEqual((await tags.json()).tags, ["v1"]);
    const manifest = await registryGet(
      reg,
      "myorg/functions/hello/manifests/v1",
      "application/vnd.oci.image.manifest.v1+json",
    );
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get("docker-content-digest"), fn.current.digest);
    await manifest.arrayBuffer();

    // The router node pulls it from there (it has no other source) and serves it.
    const hello = await waitFor(
      async () => {
        const res = await fetch(`${router.ready.router}/hello`).catch(() => undefined);
        const text = await res?.text();
        return res?.status === 200 ? text : undefined;
      },
      { ms: 10_000, what: () => `the router never served /hello:\n${router.output()}` },
    );
    assert.equal(hello, "hello\n7\n");

    // The embedded registry is off, and says where the images are; gc refuses to touch another registry.
    const v2 = await fetch(`${control.ready.control}/v2/functions/hello/tags/list`);
    assert.equal(v2.status, 404);
    assert.match(await v2.text(), /external registry http:\/\/127\.0\.0\.1:\d+\/myorg/);
    const gc = await cli(server, "registry", "gc");
    assert.notEqual(gc.code, 0, show(gc));
    assert.match(gc.stderr, /external registry .*does not delete there/, show(gc));
    // Manifests for crun pods name the external registry by digest, at the address nodes reach it by.
    const m = await cli(server, "fn", "manifest", "--name", "hello");
    assert.equal(m.code, 0, show(m));
    assert.ok(m.stdout.includes(`nodes.example:5000/myorg/functions/hello@${fn.current.digest}`), m.stdout);

    // Builds from source too: the package's source archive and its built image go to the external registry, and
    // the source comes back from there (pkg getsrc).
    if (cReady.ok) {
      const src = await cli(server, "fn", "create", "--name", "c-src", "--src", example("hello/hello.c"));
      assert.equal(src.code, 0, show(src));
      const pkgTags = await registryGet(reg, "myorg/packages/c-src/tags/list");
      assert.deepEqual(((await pkgTags.json()).tags as string[]).sort(), ["build-1", "src-1"]);
      assert.equal((await cli(server, "fn", "test", "--name", "c-src")).stdout, "hello\n");
      const out = join(work, "src.tar.gz");
      const got = await cli(server, "pkg", "getsrc", "--name", "c-src", "-o", out);
      assert.equal(got.code, 0, show(got));
      const files = await unpackArchive(readFileSync(out));
      assert.deepEqual(Buffer.from(files.get("hello.c") ?? []), readFileSync(example("hello/hello.c")));
    }

    // A second control node with a wrong password: the update fails naming the registry and what to fix, and
    // the function (and what the router serves) is unchanged.
    const wrong = await node(join(work, "wrong"), store, "127.0.0.1", "control", [
      "--registry",
      url,
      "--registry-username",
      USER,
      "--registry-password",
      "not-the-password",
    ]);
    procs.push(wrong);
    const u = await cli(
      { controlUrl: wrong.ready.control },
      "fn",
      "update",
      "--name",
      "hello",
      "--code",
      example("hello/hello.wasm"),
      "--arg",
      "8",
    );
    assert.notEqual(u.code, 0, show(u));
    assert.match(
      u.stderr,
      /external registry http:\/\/127\.0\.0\.1:\d+\/myorg refused the credentials \(HTTP 401.*--registry-username.*nothing was changed/,
      show(u),
    );
    const after = JSON.parse((await cli(server, "fn", "get", "--name", "hello", "-o", "json")).stdout);
    assert.equal(after.current.version, 1);
    assert.equal(after.current.digest, fn.current.digest);
    assert.equal(await (await fetch(`${router.ready.router}/hello`)).text(), "hello\n7\n");

    // The registry goes away: an update is refused naming it, nothing changes, the router keeps serving.
    await reg.stop();
    reg = undefined;
    const down = await cli(server, "fn", "update", "--name", "hello", "--code", example("hello/hello.wasm"));
    assert.notEqual(down.code, 0, show(down));
    assert.match(
      down.stderr,
      /external registry http:\/\/127\.0\.0\.1:\d+\/myorg cannot be reached \(.*ECONNREFUSED/,
      show(down),
    );
    const still = JSON.parse((await cli(server, "fn", "get", "--name", "hello", "-o", "json")).stdout);
    assert.equal(still.current.digest, fn.current.digest);
    assert.equal(await (await fetch(`${router.ready.router}/hello`)).text(), "hello\n7\n");
  } finally {
    for (const p of procs) await p.stop();
    await etcd?.stop();
    await reg?.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
