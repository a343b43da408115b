// Interoperability with Debian's docker-registry (distribution v2) and skopeo, as real processes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";
import { isWasmletError } from "../core/index.js";
import { RegistryClient } from "./client.js";
import { buildImage, LARGE_LAYER_MIN_BYTES } from "./image-build.js";
import {
  bigWasm,
  DOCKER_REGISTRY,
  type DockerRegistry,
  type RunningRegistry,
  startDockerRegistry,
  startRegistry,
  tinyWasm,
} from "./test-support.js";

const run = promisify(execFile);
const SKOPEO = "/usr/bin/skopeo";
const noRegistry = existsSync(DOCKER_REGISTRY) ? false : `${DOCKER_REGISTRY} is not installed`;
const noSkopeo = existsSync(SKOPEO) ? false : `${SKOPEO} is not installed`;
const UMOCI = "/usr/bin/umoci";
const noUmoci = existsSync(UMOCI) ? false : `${UMOCI} is not installed`;

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run(SKOPEO, ["--insecure-policy", ...args], { timeout: 30_000 });
  return stdout;
}

let plain: DockerRegistry | undefined;
let embedded: RunningRegistry;
const client = new RegistryClient();

before(async () => {
  embedded = await startRegistry();
  if (!noRegistry) plain = await startDockerRegistry();
});
after(async () => {
  await plain?.stop();
  await embedded.close();
});

test("RegistryClient pushes to and pulls from docker-registry", { skip: noRegistry }, async () => {
  const wasm = tinyWasm("docker-registry");
  const bundle = await buildImage({
    files: new Map([
      ["/fn.wasm", wasm],
      ["/conf/a.txt", new TextEncoder().encode("a")],
    ]),
    entry: "/fn.wasm",
  });
  const ref = `${plain!.host}/functions/fn:v1`;
  assert.equal(await client.push(ref, bundle), bundle.manifestDigest);
  assert.equal(await client.resolve(ref), bundle.manifestDigest);
  const img = await client.pull(ref);
  assert.deepEqual(img.module, wasm);
  assert.deepEqual([...img.files.keys()].sort(), ["/conf/a.txt", "/fn.wasm"]);
  const artifact = await buildImage({
    files: new Map([["/m.wasm", wasm]]),
    entry: "/m.wasm",
    format: "wasm-artifact",
  });
  await client.push(`${plain!.host}/functions/art:v1`, artifact);
  assert.deepEqual((await client.pull(`${plain!.host}/functions/art:v1`)).module, wasm);
});

test("skopeo copies between docker-registry and the embedded registry, digests intact", {
  skip: noRegistry || noSkopeo,
}, async () => {
  const tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];
  const one = await buildImage({ files: new Map([["/one.wasm", tinyWasm("one")]]), entry: "/one.wasm" });
  await client.push(`${plain!.host}/src/one:v1`, one);
  await skopeo("copy", ...tls, `docker://${plain!.host}/src/one:v1`, `docker://${embedded.host}/dst/one:v1`);
  assert.equal(await client.resolve(`${embedded.host}/dst/one:v1`), one.manifestDigest);
  assert.deepEqual((await client.pull(`${embedded.host}/dst/one:v1`)).module, tinyWasm("one"));

  const two = await buildImage({
    files: new Map([["/two.wasm", tinyWasm("two")]]),
    entry: "/two.wasm",
    args: ["x"],
  });
  await client.push(`${embedded.host}/src/two:v1`, two);
  await skopeo("copy", ...tls, `docker://${embedded.host}/src/two:v1`, `docker://${plain!.host}/dst/two:v1`);
  assert.equal(await client.resolve(`${plain!.host}/dst/two:v1`), two.manifestDigest);
});

test("skopeo inspect reads an image our client pushed to the embedded registry", {
  skip: noSkopeo,
}, async () => {
  const bundle = await buildImage({
    files: new Map([["/i.wasm", tinyWasm("inspect")]]),
    entry: "/i.wasm",
    env: ["A=1"],
  });
  await client.push(`${embedded.host}/inspect/me:v3`, bundle);
  const info = JSON.parse(
    await skopeo("inspect", "--tls-verify=false", `docker://${embedded.host}/inspect/me:v3`),
  );
  assert.equal(info.Digest, bundle.manifestDigest);
  assert.equal(info.Architecture, "wasm");
  assert.equal(info.Os, "wasip1");
  assert.deepEqual(info.Env, ["A=1"]);
  assert.equal(info.Labels ?? null, null);
  assert.deepEqual(info.RepoTags, ["v3"]);
  const raw = JSON.parse(
    await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${embedded.host}/inspect/me:v3`),
  );
  assert.equal(raw.annotations["module.wasm.image/variant"], "compat-smart");
});

test("umoci unpacks the layer of an image copied out of the embedded registry, gzip or uncompressed tar (a large one)", {
  skip: noSkopeo || noUmoci,
}, async () => {
  for (const [tag, wasm] of [
    ["v1", tinyWasm("umoci")],
    ["large", bigWasm(LARGE_LAYER_MIN_BYTES)],
  ] as const) {
    const bundle = await buildImage({
      files: new Map([
        ["/app/fn.wasm", wasm],
        ["/app/data.txt", new TextEncoder().encode("data")],
      ]),
      entry: "/app/fn.wasm",
      args: ["20000"],
    });
    await client.push(`${embedded.host}/umoci/fn:${tag}`, bundle);
    const dir = await mkdtemp(join(tmpdir(), "wasmlet-umoci-"));
    try {
      await skopeo(
        "copy",
        "--src-tls-verify=false",
        `docker://${embedded.host}/umoci/fn:${tag}`,
        `oci:${join(dir, "layout")}:v1`,
      );
      // umoci 0.4 will not write a runtime config.json for os "wasip1"; the rootfs is what we check here.
      const rootfs = join(dir, "rootfs");
      await run(UMOCI, ["raw", "unpack", "--rootless", "--image", `${join(dir, "layout")}:v1`, rootfs], {
        timeout: 30_000,
      });
      assert.deepEqual(new Uint8Array(await readFile(join(rootfs, "app", "fn.wasm"))), wasm, tag);
      assert.equal((await stat(join(rootfs, "app", "fn.wasm"))).mode & 0o777, 0o755);
      assert.equal((await stat(join(rootfs, "app", "data.txt"))).mode & 0o777, 0o644);
      const config = JSON.parse(await skopeo("inspect", "--config", `oci:${join(dir, "layout")}:v1`));
      assert.deepEqual([...config.config.Entrypoint, ...config.config.Cmd], ["/app/fn.wasm", "20000"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test("basic auth against docker-registry with htpasswd", { skip: noRegistry }, async () => {
  const htpasswd = `alice:${bcrypt.hashSync("s3cret", 10)}\n`;
  const secured = await startDockerRegistry(htpasswd);
  try {
    const bundle = await buildImage({ files: new Map([["/s.wasm", tinyWasm("secured")]]), entry: "/s.wasm" });
    const ref = `${secured.host}/private/fn:v1`;
    await assert.rejects(
      client.push(ref, bundle),
      (e) => isWasmletError(e, "UNAVAILABLE") && /401/.test(e.message),
    );
    const authed = new RegistryClient({
      auth: (r) => (r === secured.host ? { username: "alice", password: "s3cret" } : undefined),
    });
    assert.equal(await authed.push(ref, bundle), bundle.manifestDigest);
    assert.deepEqual((await authed.pull(ref)).module, tinyWasm("secured"));
    await assert.rejects(
      client.pull(ref),
      (e) => isWasmletError(e, "IMAGE_PULL_FAILED") && /HTTP 401 UNAUTHORIZED/.test(e.message),
    );
  } finally {
    await secured.stop();
  }
});
