// `serve --store etcd://…` against a real etcd with TLS (mutual, certificates made by openssl at test time) and
// with etcd's authentication (users and roles set up with etcdctl): the flags, the URL form and the environment
// variable work; a wrong CA, a wrong password and a user without rights on the prefix stop the start clearly.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EtcdCluster, etcdTlsMissing, makeTestPki } from "../../src/store/test-support.js";
import { BIN, cli, deploy, example, type Server, show, startServer, waitFor } from "./harness.js";

const skip = etcdTlsMissing() ?? false;
/** alice's etcd password: characters a URL must escape (the URL form gives it percent-encoded). */
const ALICE_PW = "p@ss:w/rd%s3cr3t";

/** `wasmlet serve` that is expected to fail: resolves its exit code and everything it wrote. */
function serveFails(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(
      process.execPath,
      [BIN, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", ...args],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
    );
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      out += d;
    });
    // A start that hangs instead of failing is a failure of the test too.
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** `serve` with environment variables set only for the child (it copies the environment when spawned). */
async function serveWithEnv(dir: string, args: string[], env: Record<string, string>): Promise<Server> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await startServer(dir, args);
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** Deploys the hello example through `s` and checks its router serves it. */
async function deployAndCall(s: Server, name: string): Promise<void> {
  await deploy(s, {
    name,
    code: example("hello/hello.wasm"),
    args: ["--arg", "7"],
    route: ["--prefix", `/${name}`],
  });
  const res = await fetch(`${s.routerUrl}/${name}`);
  assert.equal(res.status, 200, s.output());
  assert.equal(await res.text(), "hello\n7\n");
}

test("serve on etcd over mutual TLS: creates and serves a function; a wrong CA or no client certificate fails the start naming etcd, TLS and the fix", {
  skip,
  timeout: 60_000,
}, async () => {
  const work = mkdtempSync(join(tmpdir(), "wasmlet-etcdtls-"));
  const pki = await makeTestPki();
  const etcd = await EtcdCluster.start({ tls: pki });
  const servers: Server[] = [];
  try {
    const store = `etcd://${etcd.endpoints.map((e) => new URL(e).host).join(",")}`;
    const s = await startServer(join(work, "ok"), [
      "--store",
      store,
      "--etcd-ca",
      pki.ca,
      "--etcd-cert",
      pki.clientCert,
      "--etcd-key",
      pki.clientKey,
    ]);
    servers.push(s);
    assert.match(
      s.output(),
      /state in etcd \(https:\/\/127\.0\.0\.1:\d+, https:\/\/127\.0\.0\.1:\d+, https:\/\/127\.0\.0\.1:\d+\)/,
    );
    assert.doesNotMatch(s.output(), /Warning/, `no warning the user cannot act on:\n${s.output()}`);
    await deployAndCall(s, "hello");
    // It really is in etcd: read back over TLS with etcdctl.
    assert.match(
      await etcd.ctl("get", "--prefix", "--keys-only", "/wasmlet/r/function/"),
      /\/wasmlet\/r\/function\/hello/,
    );

    // A CA that did not sign the server's certificate.
    const wrongCa = await serveFails(join(work, "wrong-ca"), [
      "--store",
      store,
      "--etcd-ca",
      pki.otherCa,
      "--etcd-cert",
      pki.clientCert,
      "--etcd-key",
      pki.clientKey,
    ]);
    assert.notEqual(wrongCa.code, 0, wrongCa.out);
    assert.match(wrongCa.out, /etcd/, wrongCa.out);
    assert.match(wrongCa.out, /TLS/, wrongCa.out);
    assert.match(wrongCa.out, /does not trust the certificate/, wrongCa.out);
    assert.match(wrongCa.out, /--etcd-ca/, wrongCa.out);
    assert.doesNotMatch(wrongCa.out, /^\s+at /m, `no stack trace:\n${wrongCa.out}`);
    assert.doesNotMatch(wrongCa.out, /DeprecationWarning/, wrongCa.out);

    // The same with credentials (the failure then happens during the login, which hides its reason).
    const wrongCaAuth = await serveFails(join(work, "wrong-ca-auth"), [
      "--store",
      `etcd://alice:pw@${new URL(etcd.endpoint(0)).host}`,
      "--etcd-ca",
      pki.otherCa,
    ]);
    assert.notEqual(wrongCaAuth.code, 0, wrongCaAuth.out);
    assert.match(wrongCaAuth.out, /TLS: this node does not trust the certificate/, wrongCaAuth.out);

    // The members ask for a client certificate and none is given.
    const noCert = await serveFails(join(work, "no-cert"), ["--store", store, "--etcd-ca", pki.ca]);
    assert.notEqual(noCert.code, 0, noCert.out);
    assert.match(noCert.out, /etcd/, noCert.out);
    assert.match(noCert.out, /refused this node's client certificate/, noCert.out);
    assert.match(noCert.out, /--etcd-cert/, noCert.out);
    assert.doesNotMatch(noCert.out, /^\s+at /m, `no stack trace:\n${noCert.out}`);

    // Plain HTTP to a TLS member (no --etcd-ca): told to give the CA.
    const plain = await serveFails(join(work, "plain"), ["--store", store]);
    assert.notEqual(plain.code, 0, plain.out);
    assert.match(plain.out, /etcd/, plain.out);
    assert.match(plain.out, /--etcd-ca/, plain.out);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await etcd.stop();
    rmSync(pki.dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test("serve on etcd with authentication: --etcd-user with WASMLET_ETCD_PASSWORD or user:password@ in the URL works; a wrong password or a user without rights on the prefix fails the start clearly", {
  skip,
  timeout: 60_000,
}, async () => {
  const work = mkdtempSync(join(tmpdir(), "wasmlet-etcdauth-"));
  // Tokens idle for 1 s expire: the nodes must log in again rather than fail later.
  const etcd = await EtcdCluster.start({ members: 1, authTokenTtlS: 1 });
  const servers: Server[] = [];
  try {
    await etcd.enableAuth("root-pw");
    // alice may use the platform's prefix only; bob only another one.
    await etcd.addUser("alice", ALICE_PW, "/wasmlet/");
    await etcd.addUser("bob", "bob-pw", "/elsewhere/");
    const host = new URL(etcd.endpoint(0)).host;

    const s = await serveWithEnv(join(work, "flags"), ["--store", `etcd://${host}`, "--etcd-user", "alice"], {
      WASMLET_ETCD_PASSWORD: ALICE_PW,
    });
    servers.push(s);
    await deployAndCall(s, "hello");
    assert.match(await etcd.ctl("get", "--prefix", "--keys-only", "/wasmlet/r/function/"), /hello/);

    // The URL form: a second node on the same platform serves the function too (its image pulled from the first).
    const u = await startServer(join(work, "url"), [
      "--store",
      `etcd://alice:${encodeURIComponent(ALICE_PW)}@${host}`,
    ]);
    servers.push(u);
    const got = await cli(u, "fn", "get", "--name", "hello", "-o", "json");
    assert.equal(got.code, 0, show(got));
    const res = await fetch(`${u.routerUrl}/hello`);
    assert.equal(res.status, 200, u.output());
    assert.equal(await res.text(), "hello\n7\n");
    assert.ok(!u.output().includes("s3cr3t"), "the password is not printed");

    // A wrong password, given by the flag this time.
    const wrong = await serveFails(join(work, "wrong"), [
      "--store",
      `etcd://${host}`,
      "--etcd-user",
      "alice",
      "--etcd-password",
      "not-the-password",
    ]);
    assert.notEqual(wrong.code, 0, wrong.out);
    assert.match(wrong.out, /etcd/, wrong.out);
    assert.match(wrong.out, /authentication as user "alice" failed/, wrong.out);
    assert.match(wrong.out, /wrong user name or password/, wrong.out);
    assert.match(wrong.out, /alice/, wrong.out);
    assert.doesNotMatch(wrong.out, /not-the-password/, "the password is not printed");
    assert.doesNotMatch(wrong.out, /^\s+at /m, `no stack trace:\n${wrong.out}`);

    const denied = await serveFails(join(work, "denied"), ["--store", `etcd://bob:bob-pw@${host}`]);
    assert.notEqual(denied.code, 0, denied.out);
    assert.match(denied.out, /etcd/, denied.out);
    assert.match(denied.out, /bob/, denied.out);
    assert.match(denied.out, /permission denied to user "bob"/, denied.out);
    assert.match(denied.out, /\/wasmlet\//, `names the prefix:\n${denied.out}`);
    assert.doesNotMatch(denied.out, /bob-pw/, "the password is not printed");
    assert.doesNotMatch(denied.out, /^\s+at /m, `no stack trace:\n${denied.out}`);

    // No credentials at all on a cluster with authentication on.
    const anon = await serveFails(join(work, "anon"), ["--store", `etcd://${host}`]);
    assert.notEqual(anon.code, 0, anon.out);
    assert.match(anon.out, /etcd/, anon.out);
    assert.match(anon.out, /authentication enabled and no user was given/, anon.out);
    assert.match(anon.out, /--etcd-user/, anon.out);

    // TLS asked of a member that serves plain HTTP (with credentials: grpc-js loses the reason during the login).
    const pki = await makeTestPki();
    try {
      const tls = await serveFails(join(work, "tls"), [
        "--store",
        `etcd://alice:x@${host}`,
        "--etcd-ca",
        pki.ca,
      ]);
      assert.notEqual(tls.code, 0, tls.out);
      assert.match(tls.out, /etcd store: .*https:\/\/127\.0\.0\.1:\d+/, tls.out);
      assert.doesNotMatch(tls.out, /null/, tls.out);
      assert.match(tls.out, /leave --etcd-ca out/, tls.out);
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }

    // Seconds later (both nodes' first tokens have expired): a function created through the first node is served
    // by the second, which follows the change feed with its watch; the first node logged in again to write.
    const loginsBefore = await etcd.logins();
    await deploy(s, {
      name: "later",
      code: example("hello/hello.wasm"),
      args: ["--arg", "8"],
      route: ["--prefix", "/later"],
    });
    const later = await waitFor(
      async () => {
        const r = await fetch(`${u.routerUrl}/later`);
        const text = await r.text();
        return r.status === 200 ? text : undefined;
      },
      { ms: 5000, what: () => `the second node never served /later:\n${u.output()}` },
    );
    assert.equal(later, "hello\n8\n");
    assert.ok((await etcd.logins()) > loginsBefore, "the node logged in again once its token expired");
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await etcd.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
