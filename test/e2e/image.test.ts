// Functions from images in any registry: wasmlet's images copied by skopeo into Debian's docker-registry,
// then deployed from there with `fn create --image`, pinned to the digest they had at create time.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  type DockerRegistry,
  hasDockerRegistry,
  hasSkopeo,
  skopeo,
  startDockerRegistry,
} from "./docker-registry.js";
import { cli, example, type Server, show, startServer } from "./harness.js";

const skip =
  !hasDockerRegistry() || !hasSkopeo() ? "needs docker-registry and skopeo (apt-get install)" : false;
let server: Server;
let registry: DockerRegistry;

before(async () => {
  if (skip) return;
  [server, registry] = await Promise.all([startServer(), startDockerRegistry()]);
});
after(async () => {
  await server?.stop();
  await registry?.stop();
});

test("fn create --image pulls from another registry and pins the digest", { skip }, async () => {
  const c = await cli(server, "fn", "create", "--name", "hello", "--code", example("hello/hello.wasm"));
  assert.equal(c.code, 0, show(c));
  const embedded = server.controlUrl.replace("http://", "");
  const src = `docker://${embedded}/functions/hello:v1`;
  const inspected = JSON.parse(skopeo("inspect", "--tls-verify=false", src));
  assert.equal(inspected.Architecture, "wasm");
  assert.equal(inspected.Os, "wasip1");
  const manifest = JSON.parse(skopeo("inspect", "--raw", "--tls-verify=false", src));
  assert.equal(manifest.annotations?.["module.wasm.image/variant"], "compat-smart");

  const dest = `${registry.host}/apps/hello:1.0`;
  skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, `docker://${dest}`);
  const copied = JSON.parse(skopeo("inspect", "--tls-verify=false", `docker://${dest}`));
  assert.equal(copied.Digest, inspected.Digest, "skopeo copy must keep the digest");

  const f = await cli(server, "fn", "create", "--name", "from-image", "--image", dest, "--arg", "x");
  assert.equal(f.code, 0, show(f));
  const rec = JSON.parse((await cli(server, "fn", "get", "--name", "from-image", "-o", "json")).stdout);
  assert.equal(rec.current.digest, copied.Digest);
  const t = await cli(server, "fn", "test", "--name", "from-image");
  assert.equal(t.code, 0, show(t));
  assert.equal(t.stdout, "hello\nx\n");
});

test("an image that is not in the registry is refused with the reference in the message", {
  skip,
}, async () => {
  const r = await cli(server, "fn", "create", "--name", "missing", "--image", `${registry.host}/apps/none:1`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /apps\/none:1/);
  const list = await cli(server, "fn", "list");
  assert.doesNotMatch(list.stdout, /missing/);
});
