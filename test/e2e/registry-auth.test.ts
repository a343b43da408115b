// The embedded registry behind a control token, as OCI tools see it: skopeo logs in with `--creds user:TOKEN`
// through the Docker token flow (401 with a Bearer challenge, Basic credentials to the realm, a bearer token).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hasSkopeo, skopeo } from "./docker-registry.js";
import { cli, example, type Server, show, startServer } from "./harness.js";

const skip = !hasSkopeo() ? "needs skopeo (apt-get install skopeo)" : false;
const TOKEN = "e2e-control-token";
let server: Server;
let work: string;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "wasmlet-registry-auth-"));
  const tokenFile = join(work, "token");
  writeFileSync(tokenFile, `${TOKEN}\n`);
  server = await startServer(undefined, ["--token-file", tokenFile]);
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** skopeo's exit status and stderr, without throwing. */
function trySkopeo(...args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: skopeo(...args) };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: string }).stderr ?? e) };
  }
}

test("skopeo reads and writes the embedded registry with --creds user:TOKEN, and nothing without", {
  skip,
}, async () => {
  const c = await cli(
    server,
    "--token",
    TOKEN,
    "fn",
    "create",
    "--name",
    "hello",
    "--code",
    example("hello/hello.wasm"),
  );
  assert.equal(c.code, 0, show(c));
  const rec = JSON.parse(
    (await cli(server, "--token", TOKEN, "fn", "get", "--name", "hello", "-o", "json")).stdout,
  );
  const control = server.controlUrl.replace("http://", "");
  const src = `docker://${control}/functions/hello:v1`;

  const anonymous = trySkopeo("inspect", "--tls-verify=false", src);
  assert.equal(anonymous.ok, false, "no credentials, no image");
  const wrong = trySkopeo("inspect", "--tls-verify=false", "--creds", "x:wrong", src);
  assert.equal(wrong.ok, false, "a wrong token, no image");

  const inspected = trySkopeo("inspect", "--tls-verify=false", "--creds", `x:${TOKEN}`, src);
  assert.ok(inspected.ok, inspected.out);
  assert.equal(JSON.parse(inspected.out).Digest, rec.current.digest);

  // A push goes through the same flow (uploads, manifest PUT) and keeps the digest.
  const dest = `docker://${control}/copies/hello:v2`;
  const copy = trySkopeo(
    "copy",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    "--src-creds",
    `anyone:${TOKEN}`,
    "--dest-creds",
    `anyone:${TOKEN}`,
    src,
    dest,
  );
  assert.ok(copy.ok, copy.out);
  const copied = trySkopeo("inspect", "--tls-verify=false", "--creds", `x:${TOKEN}`, dest);
  assert.ok(copied.ok, copied.out);
  assert.equal(JSON.parse(copied.out).Digest, rec.current.digest);

  // wasmlet's own client still sends the token straight away.
  const ls = await cli(server, "--token", TOKEN, "image", "ls");
  assert.equal(ls.code, 0, show(ls));
  assert.match(ls.stdout, /copies\/hello\s+v2/);
});
