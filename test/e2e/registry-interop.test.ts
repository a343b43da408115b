// Wasmlet's registry and client among real OCI tools: an image umoci builds goes into wasmlet with skopeo, runs,
// and comes out with its digest intact; functions come from Debian's docker-registry behind basic auth
// (`serve --registry-auth`), and `wasmlet image` pushes, lists and pulls there.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import bcrypt from "bcryptjs";
import {
  type DockerRegistry,
  hasDockerRegistry,
  hasSkopeo,
  skopeo,
  startDockerRegistry,
} from "./docker-registry.js";
import { cli, fixture, type Server, show, startServer } from "./harness.js";

const UMOCI = "/usr/bin/umoci";
const skip =
  !hasDockerRegistry() || !hasSkopeo() || !existsSync(UMOCI)
    ? "needs docker-registry, skopeo and umoci (apt-get install)"
    : false;
let server: Server;
let registry: DockerRegistry;
let work: string;
let authFile: string;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "wasmlet-interop-"));
  registry = await startDockerRegistry(`alice:${bcrypt.hashSync("s3cret", 8)}\n`);
  authFile = join(work, "registry-auth.json");
  writeFileSync(authFile, JSON.stringify({ [registry.host]: { username: "alice", password: "s3cret" } }));
  server = await startServer(undefined, ["--registry-auth", authFile]);
});
after(async () => {
  await server?.stop();
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const umoci = (...args: string[]) => execFileSync(UMOCI, args, { cwd: work, stdio: "pipe" });

test("an image umoci builds goes in with skopeo, runs as a function, and comes out with the same digest", {
  skip,
}, async () => {
  writeFileSync(join(work, "greeting.txt"), "hi from umoci");
  const layout = join(work, "layout");
  umoci("init", "--layout", layout);
  umoci("new", "--image", `${layout}:v1`);
  // Two inserts: two layers, the module in the first and the data file in the second.
  umoci("insert", "--rootless", "--image", `${layout}:v1`, fixture("readfile.wasm"), "/app.wasm");
  umoci("insert", "--rootless", "--image", `${layout}:v1`, join(work, "greeting.txt"), "/data/greeting.txt");
  umoci(
    "config",
    "--image",
    `${layout}:v1`,
    "--config.entrypoint",
    "/app.wasm",
    "--os",
    "wasip1",
    "--architecture",
    "wasm",
  );
  const built = JSON.parse(skopeo("inspect", `oci:${layout}:v1`));
  assert.equal(built.Layers.length, 2);

  const control = server.controlUrl.replace("http://", "");
  skopeo("copy", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${control}/x/y:v1`);
  const c = await cli(server, "fn", "create", "--name", "umoci", "--image", `${control}/x/y:v1`);
  assert.equal(c.code, 0, show(c));
  const rec = JSON.parse((await cli(server, "fn", "get", "--name", "umoci", "-o", "json")).stdout);
  assert.equal(rec.current.digest, built.Digest, "wasmlet must store the manifest byte for byte");
  const t = await cli(server, "fn", "test", "--name", "umoci");
  assert.equal(t.code, 0, show(t));
  assert.match(t.stdout, /^greeting: hi from umoci\ntmp: absent\n/);

  skopeo("copy", "--src-tls-verify=false", `docker://${control}/x/y:v1`, `oci:${join(work, "out")}:v1`);
  assert.equal(JSON.parse(skopeo("inspect", `oci:${join(work, "out")}:v1`)).Digest, built.Digest);
});

test("fn create --image from docker-registry with basic auth, credentials from serve --registry-auth", {
  skip,
}, async () => {
  const ref = `${registry.host}/apps/readfile:1.0`;
  writeFileSync(join(work, "hello.txt"), "hi from docker-registry");
  const noAuth = await cli(undefined, "image", "push", "--code", fixture("readfile.wasm"), ref);
  assert.equal(noAuth.code, 1, show(noAuth));
  assert.match(noAuth.stderr, /401/);

  const push = await cli(
    undefined,
    "image",
    "--registry-auth",
    authFile,
    "push",
    "--code",
    fixture("readfile.wasm"),
    "--file",
    `/data/greeting.txt=${join(work, "hello.txt")}`,
    ref,
  );
  assert.equal(push.code, 0, show(push));
  const digest = push.stdout.trim();
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);

  const c = await cli(server, "fn", "create", "--name", "from-auth", "--image", ref);
  assert.equal(c.code, 0, show(c));
  const rec = JSON.parse((await cli(server, "fn", "get", "--name", "from-auth", "-o", "json")).stdout);
  assert.equal(rec.current.digest, digest);
  const t = await cli(server, "fn", "test", "--name", "from-auth");
  assert.equal(t.code, 0, show(t));
  assert.match(t.stdout, /^greeting: hi from docker-registry\n/);

  const ls = await cli(undefined, "image", "--registry-auth", authFile, "ls", "--registry", registry.host);
  assert.equal(ls.code, 0, show(ls));
  assert.match(ls.stdout, /apps\/readfile\s+1\.0/);
  const out = join(work, "pulled");
  const pull = await cli(undefined, "image", "--registry-auth", authFile, "pull", ref, "-o", out);
  assert.equal(pull.code, 0, show(pull));
  assert.equal(pull.stdout.split("\n")[0], digest);
  assert.equal(readFileSync(join(out, "data", "greeting.txt"), "utf8"), "hi from docker-registry");
  assert.deepEqual(readFileSync(join(out, "readfile.wasm")), readFileSync(fixture("readfile.wasm")));
});

test("image ls lists the embedded registry by default; image inspect reads any registry", {
  skip,
}, async () => {
  const ls = await cli(server, "image", "ls");
  assert.equal(ls.code, 0, show(ls));
  assert.match(ls.stdout, /^x\/y\s+v1$/m);
  const i = await cli(
    undefined,
    "image",
    "--registry-auth",
    authFile,
    "inspect",
    `${registry.host}/apps/readfile:1.0`,
  );
  assert.equal(i.code, 0, show(i));
  assert.match(i.stdout, /entrypoint:\n\s+- \/readfile.wasm/);
  assert.match(i.stdout, /os: wasip1/);
});
