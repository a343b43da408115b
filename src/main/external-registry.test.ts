// Failed pushes to an external registry, against Debian's docker-registry with htpasswd basic auth.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import bcrypt from "bcryptjs";
import { isWasmletError } from "../core/index.js";
import {
  buildImage,
  ImageRegistries,
  ImageStore,
  parseRegistryLocation,
  type RegistryAuth,
  RegistryClient,
} from "../registry/index.js";
import {
  DOCKER_REGISTRY,
  type DockerRegistry,
  freePort,
  startDockerRegistry,
  startRegistry,
  tinyWasm,
} from "../registry/test-support.js";
import { externalPushes } from "./external-registry.js";

const skip = existsSync(DOCKER_REGISTRY) ? false : "needs docker-registry (apt-get install docker-registry)";
let reg: DockerRegistry | undefined;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "wasmlet-extreg-unit-"));
  if (!skip) reg = await startDockerRegistry(`bob:${bcrypt.hashSync("right", 8)}\n`);
});
after(async () => {
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The API's registries for `serve --registry <url>` with these credentials. */
function pushesTo(url: string, auth?: RegistryAuth) {
  const location = parseRegistryLocation(url);
  const client = new RegistryClient({ auth: (h) => (h === location.host ? auth : undefined) });
  const store = new ImageStore({ root: join(dir, String(Math.random())), sweepIntervalMs: 0 });
  return { location, api: externalPushes(new ImageRegistries({ store, client }), location) };
}

const bundle = () => buildImage({ files: new Map([["/m.wasm", tinyWasm("ext")]]), entry: "/m.wasm" });

test("a push with the right credentials lands under the prefix and can be read back by digest", {
  skip,
}, async () => {
  const { location, api } = pushesTo(`http://${reg?.host}/team`, { username: "bob", password: "right" });
  const b = await bundle();
  const digest = await api.push(`${location.base}/functions/f:v1`, b);
  assert.equal(digest, b.manifestDigest);
  assert.equal(await api.resolve(`${location.base}/functions/f:v1`), digest);
  const [blob, bytes] = [...b.blobs][0];
  assert.deepEqual(await api.blob(`${location.base}/functions/f`, blob), bytes);
});

test("wrong or missing credentials: 401, naming the registry and the options to fix", { skip }, async () => {
  for (const auth of [{ username: "bob", password: "wrong" }, undefined]) {
    const { location, api } = pushesTo(`http://${reg?.host}/team`, auth);
    await assert.rejects(api.push(`${location.base}/functions/f:v2`, await bundle()), (e: unknown) => {
      assert.ok(isWasmletError(e, "UNAVAILABLE"));
      assert.match(
        e.message,
        new RegExp(
          `^the external registry http://${reg?.host}/team refused the credentials \\(HTTP 401 UNAUTHORIZED\\): check --registry-username`,
        ),
      );
      assert.match(e.message, /nothing was changed$/);
      return true;
    });
  }
});

test("an unreachable registry: named, with the cause", async () => {
  const { location, api } = pushesTo(`http://127.0.0.1:${await freePort()}/team`);
  await assert.rejects(api.push(`${location.base}/functions/f:v1`, await bundle()), (e: unknown) => {
    assert.ok(isWasmletError(e, "UNAVAILABLE"));
    assert.match(
      e.message,
      /^the external registry http:\/\/127\.0\.0\.1:\d+\/team cannot be reached \(.*ECONNREFUSED.*\): check --registry/,
    );
    return true;
  });
});

test("a Bearer challenge (another Wasmlet's registry behind its token): the token flow with the credentials; a refused password is a 401", async () => {
  const other = await startRegistry({ token: "other-token" });
  try {
    const good = pushesTo(`${other.url}/org`, { username: "ci", password: "other-token" });
    const b = await bundle();
    assert.equal(await good.api.push(`${good.location.base}/functions/f:v1`, b), b.manifestDigest);
    assert.ok(await other.store.loadLocal(b.manifestDigest), "the image is in that registry");
    const bad = pushesTo(`${other.url}/org`, { username: "ci", password: "wrong" });
    await assert.rejects(bad.api.push(`${bad.location.base}/functions/f:v2`, b), (e: unknown) => {
      assert.ok(isWasmletError(e, "UNAVAILABLE"));
      assert.match(
        e.message,
        new RegExp(`^the external registry ${other.url}/org refused the credentials \\(HTTP 401`),
      );
      return true;
    });
  } finally {
    await other.close();
  }
});
