// Helpers for tests and benchmarks of the etcd store (this folder's and the e2e ones): a real 3-member etcd cluster
// (Debian's `etcd-server`, /usr/bin/etcd) on 127.0.0.1, each member a child process with its data in a temp dir;
// optionally with TLS on its client URLs (certificates made by `openssl` at test time) and etcd's authentication.
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The etcd binary the tests start; `etcdMissing()` says why a test skips when it is absent. */
export const ETCD_BIN = "etcd";

/** Why etcd tests cannot run here (undefined when they can). */
export function etcdMissing(): string | undefined {
  const r = spawnSync(ETCD_BIN, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? undefined : "etcd is not installed (Debian package etcd-server)";
}

/** The etcdctl binary (Debian's `etcd-client`) that sets users, roles and authentication up. */
export const ETCDCTL_BIN = "etcdctl";

/** Why TLS or auth tests cannot run here (undefined when they can): they also need `openssl` and `etcdctl`. */
export function etcdTlsMissing(): string | undefined {
  const missing = etcdMissing();
  if (missing) return missing;
  if (spawnSync("openssl", ["version"]).status !== 0) return "openssl is not installed";
  if (spawnSync(ETCDCTL_BIN, ["version"]).status !== 0)
    return "etcdctl is not installed (Debian package etcd-client)";
  return undefined;
}

/** PEM files of a throwaway PKI: a CA, a server certificate for 127.0.0.1 and a client certificate it signed. */
export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Another CA, which signed nothing of the above (a client trusting it must refuse the server). */
  otherCa: string;
}

/**
 * Makes a throwaway CA, a server certificate (SAN IP 127.0.0.1; also for client use: etcd's JSON gateway dials its
 * own member with it) and a client certificate (CN `clientCn`) with `openssl` (P-256 keys, valid one day) in a new temp dir; nothing is committed, `rmSync(pki.dir)` removes it.
 */
export async function makeTestPki(clientCn = "wasmlet-client"): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-pki-"));
  const f = (name: string) => join(dir, name);
  const ossl = (...args: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile("openssl", args, { cwd: dir }, (err, _out, stderr) =>
        err ? reject(new Error(`openssl ${args[0]}: ${stderr || err.message}`)) : resolve(),
      ),
    );
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const selfSigned = (name: string, cn: string) =>
    ossl(
      "req",
      "-x509",
      ...key,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.crt`),
      "-days",
      "1",
      "-subj",
      `/CN=${cn}`,
    );
  const signed = async (name: string, cn: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext);
    await ossl("req", ...key, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${cn}`);
    await ossl(
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f("ca.crt"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-out",
      f(`${name}.crt`),
      "-days",
      "1",
      "-extfile",
      f(`${name}.ext`),
    );
  };
  await Promise.all([selfSigned("ca", "wasmlet test CA"), selfSigned("other-ca", "another CA")]);
  await Promise.all([
    signed("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"),
    signed("client", clientCn, "extendedKeyUsage=clientAuth\n"),
  ]);
  return {
    dir,
    ca: f("ca.crt"),
    serverCert: f("server.crt"),
    serverKey: f("server.key"),
    clientCert: f("client.crt"),
    clientKey: f("client.key"),
    otherCa: f("other-ca.crt"),
  };
}

/**
 * Ports etcd clusters of the tests may use; each cluster takes 6 consecutive ones. 22980-22999 stay free for the
 * fixed ports of test nodes (an image reference names its registry's port, which must survive a restart).
 */
const PORT_LOW = 22000;
const PORT_HIGH = 22979;
const PORTS_PER_CLUSTER = 6;

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dir: string;
  proc?: ChildProcess;
  /** Everything the member printed, for the error when it does not start. */
  out: string;
}

/** A running 3-member etcd cluster on loopback; `stop()` kills every member and removes the data. */
export class EtcdCluster {
  readonly #members: Member[];
  readonly #root: string;
  readonly #pki: TestPki | undefined;
  /** PEM text the harness itself connects with (TLS clusters). */
  readonly #tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
  /** `root`'s password once `enableAuth` ran: the harness's own calls then log in. */
  #rootPassword: string | undefined;

  readonly #authTokenTtlS: number | undefined;

  private constructor(members: Member[], root: string, pki?: TestPki, authTokenTtlS?: number) {
    this.#members = members;
    this.#authTokenTtlS = authTokenTtlS;
    this.#root = root;
    this.#pki = pki;
    this.#tls = pki && {
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.clientCert),
      key: readFileSync(pki.clientKey),
    };
  }

  /**
   * Starts 3 members (heartbeat 50 ms, election timeout 500 ms, so a lost leader is replaced in about a second) on
   * the first free 6 ports of the range, and resolves once the cluster answers a linearizable read. With `tls`,
   * the client URLs are https with that server certificate, and clients must present a certificate the CA signed
   * (`--client-cert-auth`); peers still talk plain HTTP on loopback. `authTokenTtlS` shortens how long an idle
   * authentication token lives (etcd's default: 300 s), to see clients log in again.
   */
  static async start(
    opts: { members?: number; tls?: TestPki; authTokenTtlS?: number } = {},
  ): Promise<EtcdCluster> {
    const n = opts.members ?? 3;
    const root = mkdtempSync(join(tmpdir(), "wasmlet-etcd-"));
    for (let attempt = 0; attempt < 20; attempt++) {
      const base = await freePortBlock(n * 2);
      const members: Member[] = Array.from({ length: n }, (_, i) => ({
        name: `m${i}`,
        clientUrl: `${opts.tls ? "https" : "http"}://127.0.0.1:${base + i * 2}`,
        peerUrl: `http://127.0.0.1:${base + i * 2 + 1}`,
        dir: join(root, `m${i}-${base}`),
        out: "",
      }));
      const cluster = new EtcdCluster(members, root, opts.tls, opts.authTokenTtlS);
      for (let i = 0; i < n; i++) cluster.#spawn(i, "new");
      try {
        await cluster.waitHealthy(15_000);
        return cluster;
      } catch (e) {
        await cluster.#killAll();
        if (!members.some((m) => m.out.includes("address already in use"))) {
          rmSync(root, { recursive: true, force: true });
          throw e;
        }
      }
    }
    rmSync(root, { recursive: true, force: true });
    throw new Error(`no free block of ports for etcd in ${PORT_LOW}-${PORT_HIGH}`);
  }

  /** Client URLs of every member, in member order (`http://127.0.0.1:PORT`). */
  get endpoints(): string[] {
    return this.#members.map((m) => m.clientUrl);
  }

  /** Client URL of member `i`. */
  endpoint(i: number): string {
    return this.#members[i].clientUrl;
  }

  #spawn(i: number, state: "new" | "existing"): void {
    const m = this.#members[i];
    const initialCluster = this.#members.map((x) => `${x.name}=${x.peerUrl}`).join(",");
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=${state}`,
      "--initial-cluster-token=wasmlet-test",
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--logger=zap",
      "--log-level=warn",
    ];
    if (this.#authTokenTtlS !== undefined) args.push(`--auth-token-ttl=${this.#authTokenTtlS}`);
    const pki = this.#pki;
    if (pki)
      args.push(
        `--cert-file=${pki.serverCert}`,
        `--key-file=${pki.serverKey}`,
        `--trusted-ca-file=${pki.ca}`,
        "--client-cert-auth",
      );
    const proc = spawn(ETCD_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    m.out = "";
    const keep = (b: Buffer) => {
      m.out = (m.out + b.toString("utf8")).slice(-20_000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    m.proc = proc;
  }

  /** Member indexes whose process runs. */
  running(): number[] {
    return this.#members.flatMap((m, i) => (m.proc && m.proc.exitCode === null && !m.proc.killed ? [i] : []));
  }

  /** Resolves once every running member answers and they agree on a leader that runs. */
  async waitHealthy(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const statuses = await Promise.all(this.running().map((i) => this.#status(i)));
        const leader = statuses[0]?.leader;
        // Every running member agrees on a leader that is one of them (not a member just killed).
        if (statuses.every((s) => s.leader === leader) && statuses.some((s) => s.memberId === leader)) return;
        last = JSON.stringify(statuses);
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const logs = this.#members.map((m) => `--- ${m.name}\n${m.out.slice(-2000)}`).join("\n");
    throw new Error(`etcd cluster not healthy after ${timeoutMs} ms (${last})\n${logs}`);
  }

  /** Index of the current leader (waits for one, up to 10 s). */
  async leader(): Promise<number> {
    await this.waitHealthy();
    for (const i of this.running()) {
      const s = await this.#status(i);
      if (s.leader === s.memberId) return i;
    }
    // The leader may have changed between the health check and the loop: ask once more.
    return this.leader();
  }

  /** Kills member `i` (SIGKILL by default) and waits for its exit. */
  async kill(i: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = this.#members[i].proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, "exit");
    p.kill(signal);
    await exited;
  }

  /** Starts member `i` again on its data directory (it rejoins the cluster). */
  restart(i: number): void {
    this.#spawn(i, "existing");
  }

  /**
   * Runs `etcdctl` (API v3) against the cluster with its TLS files and, once authentication is on, as root;
   * resolves its stdout, rejects with its stderr.
   */
  ctl(...args: string[]): Promise<string> {
    const pki = this.#pki;
    const full = [`--endpoints=${this.endpoints.join(",")}`, "--dial-timeout=3s", "--command-timeout=5s"];
    if (pki) full.push(`--cacert=${pki.ca}`, `--cert=${pki.clientCert}`, `--key=${pki.clientKey}`);
    if (this.#rootPassword !== undefined) full.push(`--user=root:${this.#rootPassword}`);
    full.push(...args);
    return new Promise((resolve, reject) =>
      execFile(ETCDCTL_BIN, full, { env: { ...process.env, ETCDCTL_API: "3" } }, (err, out, stderr) =>
        err ? reject(new Error(`etcdctl ${args.join(" ")}: ${stderr || err.message}`)) : resolve(out),
      ),
    );
  }

  /**
   * Turns etcd's authentication on: adds `root` with `rootPassword` (and the root role), then `auth enable`.
   * Later `ctl` calls log in as root.
   */
  async enableAuth(rootPassword: string): Promise<void> {
    await this.ctl("user", "add", `root:${rootPassword}`, "--interactive=false");
    await this.ctl("auth", "enable");
    this.#rootPassword = rootPassword;
  }

  /**
   * Adds `user` with `password` and a role of the same name allowed to read and write the keys from `prefix`
   * (every key that starts with it) and nothing else.
   */
  async addUser(user: string, password: string, prefix: string): Promise<void> {
    await this.ctl("user", "add", `${user}:${password}`, "--interactive=false");
    await this.ctl("role", "add", user);
    await this.ctl("role", "grant-permission", user, "readwrite", prefix, "--prefix=true");
    await this.ctl("user", "grant-role", user, user);
  }

  /**
   * How many logins (`Authenticate` calls answered OK) member `i` has served, from its Prometheus metrics (plain
   * HTTP clusters only).
   */
  async logins(i = 0): Promise<number> {
    if (this.#pki) throw new Error("EtcdCluster.logins: only for clusters without TLS");
    const text = await (await fetch(`${this.#members[i].clientUrl}/metrics`)).text();
    const line = text
      .split("\n")
      .find(
        (l) =>
          l.startsWith("grpc_server_handled_total{") && /grpc_code="OK",grpc_method="Authenticate"/.test(l),
      );
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  }

  /** Compacts the cluster's history up to its current revision; returns that revision. */
  async compact(): Promise<number> {
    const i = this.running()[0];
    const r = await post(this.#members[i].clientUrl, "/v3/kv/range", { key: b64("\0") }, this.#tls);
    const rev = Number((r.header as { revision: string }).revision);
    await post(
      this.#members[i].clientUrl,
      "/v3/kv/compaction",
      { revision: String(rev), physical: true },
      this.#tls,
    );
    return rev;
  }

  async #status(i: number): Promise<{ leader: string; memberId: string }> {
    const r = await post(this.#members[i].clientUrl, "/v3/maintenance/status", {}, this.#tls);
    return {
      leader: String(r.leader ?? "0"),
      memberId: String((r.header as { member_id: string }).member_id),
    };
  }

  async #killAll(): Promise<void> {
    await Promise.all(this.#members.map((_, i) => this.kill(i)));
  }

  /** Kills every member and removes the data directories. */
  async stop(): Promise<void> {
    await this.#killAll();
    rmSync(this.#root, { recursive: true, force: true });
  }
}

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

/** One call to etcd's JSON gateway (`/v3/...`) with a short timeout; over https with `tls` (CA, client cert). */
async function post(
  base: string,
  path: string,
  body: unknown,
  tls?: { ca: Buffer; cert: Buffer; key: Buffer },
): Promise<Record<string, unknown>> {
  if (tls) return postTls(base + path, body, tls);
  const res = await fetch(base + path, {
    method: "POST",
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(1000),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

function postTls(
  url: string,
  body: unknown,
  tls: { ca: Buffer; cert: Buffer; key: Buffer },
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", ...tls, timeout: 1000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        text += d;
      });
      res.on("end", () => {
        try {
          const json = JSON.parse(text) as Record<string, unknown>;
          if (res.statusCode !== 200) reject(new Error(`etcd ${url}: ${res.statusCode} ${text}`));
          else resolve(json);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`etcd ${url}: timed out`)));
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** The first `count` consecutive free ports of the range, from a random start so parallel test files rarely meet. */
async function freePortBlock(count: number): Promise<number> {
  const slots = Math.floor((PORT_HIGH - PORT_LOW + 1) / Math.max(count, PORTS_PER_CLUSTER));
  const first = Math.floor(Math.random() * slots);
  for (let k = 0; k < slots; k++) {
    const base = PORT_LOW + ((first + k) % slots) * Math.max(count, PORTS_PER_CLUSTER);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error(`no ${count} free ports in ${PORT_LOW}-${PORT_HIGH}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP forwarder in front of an etcd member, to cut one client off the cluster (a network partition) while the
 * cluster goes on: `cut()` drops every connection and refuses new ones until `restore()`.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets: Set<Socket>;
  #cut = false;

  private constructor(server: Server, sockets: Set<Socket>) {
    this.#server = server;
    this.#sockets = sockets;
  }

  /** Listens on an ephemeral loopback port and forwards to `target` (`http://host:port`). */
  static async start(target: string): Promise<TcpProxy> {
    const url = new URL(target);
    let proxy: TcpProxy | undefined;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      if (!proxy || proxy.#cut) return client.destroy();
      const upstream = connect(Number(url.port), url.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    proxy = new TcpProxy(server, sockets);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return proxy;
  }

  /** `http://127.0.0.1:PORT` of the proxy. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((r) => this.#server.close(r));
  }
}
