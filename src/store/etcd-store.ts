import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  isBrokenCircuitError,
  retry,
} from "cockatiel";
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  type IKeyValue,
  type IOptions,
  isRecoverableError,
  type Namespace,
  type Watcher,
} from "etcd3";
import { type AsyncInvocation, type InvocationStatus, type LogEntry, WasmletError } from "../core/index.js";
import { alreadyExists, notFound } from "./errors.js";
import { FeedStore } from "./feed-store.js";
import { SqliteStore } from "./sqlite-store.js";
import type { Change, DroppedLogs, InvocationQuery, Kind, NewLogEntry, ResourceMap, Store } from "./types.js";

/** How to reach the etcd cluster and where this node keeps what does not go to etcd. */
export interface EtcdStoreOptions {
  /** Client URLs (`http://host:2379`, `https://…`) of one or more members. */
  endpoints: string[];
  /** TLS: the CA that signed the members' certificates, and this client's certificate and key (PEM). */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  /** etcd's own user and password authentication. */
  auth?: { username: string; password: string };
  /** Key prefix every key of this store is under (default `/wasmlet/`): several platforms can share a cluster. */
  prefix?: string;
  /** This node's own SQLite (invocation records, logs, handled marks), under `<dataDir>/state.db`. */
  dataDir: string;
  /** Changes kept in memory for `changes(afterSeq)` (default 10,000); older ones answer UNAVAILABLE. */
  feedWindow?: number;
}

const FEED_KEY = "feed";
const RESOURCE_PREFIX = "r/";
const DEFAULT_WINDOW = 10_000;
/**
 * Deadline of one unary etcd call (a leader election takes ~1 s with etcd's defaults). A proposal caught on a
 * follower when the leader dies waits out the server's own ~5 s timeout: this bounds it (measured pauses of 5 s
 * with a 5 s deadline, ~1 s otherwise); etcd3 then retries on another member.
 */
const CALL_TIMEOUT_MS = 3000;
/** How long a write waits for the change feed to catch up with it (only when another node wrote in between). */
const CATCH_UP_MS = 10_000;

/**
 * How a failed etcd call is retried once the store is open (etcd3's fault handling). etcd3's defaults retry a call 3
 * times at once and skip a member for 5 s after 3 failures in a row: while no member can answer — the cluster
 * electing a leader, ~1 s here, longer on a loaded machine — a write failed within milliseconds, and the API answered
 * 503 although the cluster was back a moment later (test/e2e/cluster.test.ts failed so once, creating a function on a
 * node right after etcd's leader was stopped). An open store retries a call with backoff (50 ms doubling to 800 ms:
 * ~4 s over 9 attempts, then it fails naming the cause), skips a member that failed 3 times in a row for 1 s, and
 * retries a call that found every member skipped. Until the store has opened, etcd3's defaults stay: a wrong
 * address, CA, certificate or password fails `serve` at once, not after ~4 s of retries of each check.
 */
class RetryPolicy {
  #open = false;

  /** The store opened: calls from now on are patient. */
  opened(): void {
    this.#open = true;
  }

  options(): NonNullable<IOptions["faultHandling"]> {
    const breaker = (halfOpenAfter: number) =>
      circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter, breaker: new ConsecutiveBreaker(3) });
    return {
      host: () => this.#either(breaker(5000), breaker(1000)),
      global: this.#either(
        retry(handleWhen(isRecoverableError), { maxAttempts: 3 }),
        retry(
          handleWhen((e) => isRecoverableError(e) || isBrokenCircuitError(e)),
          { maxAttempts: 9, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 800 }) },
        ),
      ),
    };
  }

  /** A policy that is `before` until the store opened, `after` from then on. */
  #either(before: IPolicy, after: IPolicy): IPolicy {
    const now = () => (this.#open ? after : before);
    return {
      _altReturn: undefined as never,
      get onSuccess() {
        return now().onSuccess;
      },
      get onFailure() {
        return now().onFailure;
      },
      execute: (fn, signal) => now().execute(fn, signal),
    };
  }
}

function resourceKey(kind: Kind, name: string): string {
  return `${RESOURCE_PREFIX}${kind}/${name}`;
}

/** Splits `r/<kind>/<name>` back into its kind and name. */
function parseResourceKey(key: string): { kind: Kind; name: string } {
  const rest = key.slice(RESOURCE_PREFIX.length);
  const slash = rest.indexOf("/");
  return { kind: rest.slice(0, slash) as Kind, name: rest.slice(slash + 1) };
}

/**
 * The state store on an etcd v3 cluster, for several nodes sharing one platform. Resources are keys
 * `<prefix>r/<kind>/<name>` (JSON); every write is one transaction that checks the key's existence
 * (create: no create revision; update, delete: a version) and also puts `<prefix>feed` — the change — so the change
 * feed is that key's history and a change's `seq` is the etcd revision of its write. Watchers follow an etcd watch
 * on the feed key that resumes from the last revision it saw after a disconnect; when that revision has been
 * compacted away, the store relists the resources and hands watchers one change per resource that differs (seqs
 * taken from the unseen revisions, so they still grow).
 *
 * Invocation records, logs and handled marks do not go to etcd (each invocation would be a raft write on every
 * member): they stay in this node's SQLite under `dataDir`, as with `SqliteStore`.
 */
export class EtcdStore extends FeedStore implements Store {
  readonly #client: Etcd3;
  readonly #ns: Namespace;
  readonly #local: SqliteStore;
  readonly #window: number;
  /** The changes this node has seen, oldest first, at most `#window`; `#floor` is the seq before the first. */
  #feed: Change[] = [];
  #floor = 0;
  #head = 0;
  /** Every resource's mod revision as of `#head` (the relist after a compaction diffs against it). */
  readonly #known = new Map<string, number>();
  #watcher: Watcher | undefined;
  /** Writes waiting for the feed to reach their revision. */
  #waiters: { seq: number; resolve: () => void }[] = [];
  #relisting: Promise<void> | undefined;

  private constructor(client: Etcd3, options: EtcdStoreOptions) {
    super();
    this.#client = client;
    this.#ns = client.namespace(options.prefix ?? "/wasmlet/");
    this.#local = new SqliteStore(options.dataDir, { pollMs: 60_000 });
    this.#window = options.feedWindow ?? DEFAULT_WINDOW;
  }

  /** Connects, reads the current resources and head, and starts following the change feed. */
  static async open(options: EtcdStoreOptions): Promise<EtcdStore> {
    if (options.endpoints.length === 0)
      throw new WasmletError("INVALID_ARGUMENT", "etcd store: no endpoints");
    const retries = new RetryPolicy();
    const config: IOptions = {
      hosts: options.endpoints,
      dialTimeout: 5000,
      // A unary call to a member that stopped answering must fail (and be retried on another) rather than hang;
      // streams (watches, lease keep-alives) live on.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
      faultHandling: retries.options(),
    };
    if (options.tls) {
      config.credentials = {
        rootCertificate: options.tls.ca,
        privateKey: options.tls.key,
        certChain: options.tls.cert,
      };
    }
    if (options.auth) config.auth = options.auth;
    const store = new EtcdStore(new Etcd3(config), options);
    try {
      await store.#start();
    } catch (e) {
      await store.close();
      throw await openError(e, options, config);
    }
    retries.opened();
    return store;
  }

  /** The etcd client, shared with leases and elections (membership, single-firing duties). */
  get client(): Etcd3 {
    return this.#client;
  }

  /** The namespace (key prefix) this store writes under. */
  get namespace(): Namespace {
    return this.#ns;
  }

  async #start(): Promise<void> {
    const snap = await this.#snapshot();
    for (const [key, rev] of snap.resources) this.#known.set(key, rev);
    this.#head = snap.feedRev;
    this.#floor = snap.feedRev;
    // The feed's history so far (what `changes(0)` answers), unless compaction took it: then it starts here.
    if (snap.feedCreateRev > 0 && snap.feedRev > 0) {
      try {
        this.#feed = await this.#history(snap.feedCreateRev, snap.feedRev);
        this.#floor = snap.feedCreateRev - 1;
      } catch {
        this.#floor = snap.feedRev;
      }
      this.#trim();
    }
    await this.#follow(snap.feedRev + 1);
  }

  /** The resources' mod revisions and the feed key's revisions, read in one transaction (one consistent revision). */
  async #snapshot(): Promise<{ resources: Map<string, number>; feedRev: number; feedCreateRev: number }> {
    const res = await this.#ns
      .if(FEED_KEY, "Version", ">", -1) // always true: the transaction only makes both reads one snapshot
      .then(this.#ns.get(FEED_KEY), this.#ns.getAll().prefix(RESOURCE_PREFIX))
      .commit();
    const feedKv = res.responses[0]?.response_range?.kvs[0];
    const resources = new Map<string, number>();
    for (const kv of res.responses[1]?.response_range?.kvs ?? []) {
      resources.set(this.#unprefix(kv.key), Number(kv.mod_revision));
    }
    return {
      resources,
      feedRev: feedKv ? Number(feedKv.mod_revision) : 0,
      feedCreateRev: feedKv ? Number(feedKv.create_revision) : 0,
    };
  }

  #unprefix(key: Buffer): string {
    return key.subarray(this.#ns.prefix.length).toString("utf8");
  }

  /** Replays the feed key's history from `fromRev` through `toRev` with a temporary watch. */
  async #history(fromRev: number, toRev: number): Promise<Change[]> {
    const out: Change[] = [];
    const w = await this.#ns.watch().key(FEED_KEY).startRevision(String(fromRev)).create();
    try {
      await new Promise<void>((resolve, reject) => {
        if (fromRev > toRev) resolve();
        w.on("put", (kv) => {
          const c = toChange(kv);
          if (c.seq <= toRev) out.push(c);
          if (c.seq >= toRev) resolve();
        });
        w.on("error", reject);
        setTimeout(() => reject(new Error("timed out reading the feed's history")), CATCH_UP_MS).unref();
      });
    } finally {
      await w.cancel();
    }
    return out;
  }

  /** Watches the feed key from `fromRev` on; a cancelled watch (its revision compacted) leads to a relist. */
  async #follow(fromRev: number): Promise<void> {
    const w = await this.#ns.watch().key(FEED_KEY).startRevision(String(fromRev)).create();
    if (this.isClosed) {
      await w.cancel();
      return;
    }
    this.#watcher = w;
    w.on("put", (kv) => this.#add([toChange(kv)]));
    w.on("error", () => {
      if (this.#watcher !== w || this.isClosed) return;
      this.#watcher = undefined;
      this.#relisting = this.#relist().finally(() => {
        this.#relisting = undefined;
      });
    });
  }

  /**
   * After the feed's history from `#head` on was compacted away: compares the resources now with `#known`, and
   * feeds one change per difference (a resource's own seq is its mod revision; a deleted one takes an unused
   * revision between the old head and the feed's — there are at least as many as differences).
   */
  async #relist(): Promise<void> {
    for (let attempt = 0; !this.isClosed; attempt++) {
      try {
        const snap = await this.#snapshot();
        const changes: Change[] = [];
        const used = new Set<number>();
        for (const [key, rev] of snap.resources) {
          const before = this.#known.get(key);
          if (before === rev) continue;
          const { kind, name } = parseResourceKey(key);
          changes.push({ seq: rev, kind, name, op: before === undefined ? "create" : "update" });
          used.add(rev);
        }
        let free = snap.feedRev;
        for (const key of this.#known.keys()) {
          if (snap.resources.has(key)) continue;
          while (used.has(free)) free--;
          const { kind, name } = parseResourceKey(key);
          changes.push({ seq: free, kind, name, op: "delete" });
          used.add(free);
        }
        changes.sort((a, b) => a.seq - b.seq);
        this.#known.clear();
        for (const [key, rev] of snap.resources) this.#known.set(key, rev);
        this.#add(
          changes.filter((c) => c.seq > this.#head),
          snap.feedRev,
        );
        await this.#follow(snap.feedRev + 1);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  /** Appends changes newer than the head (in seq order) and hands them to watchers and waiting writes. */
  #add(changes: Change[], head?: number): void {
    for (const c of changes) {
      if (c.seq <= this.#head) continue;
      this.#feed.push(c);
      this.#head = c.seq;
      const key = resourceKey(c.kind, c.name);
      if (c.op === "delete") this.#known.delete(key);
      else this.#known.set(key, c.seq);
    }
    if (head !== undefined && head > this.#head) this.#head = head;
    this.#trim();
    if (this.isClosed) return;
    this.watchers.drain();
    if (this.#waiters.length > 0) {
      const due = this.#waiters.filter((w) => w.seq <= this.#head);
      this.#waiters = this.#waiters.filter((w) => w.seq > this.#head);
      for (const w of due) w.resolve();
    }
  }

  #trim(): void {
    const excess = this.#feed.length - this.#window;
    if (excess > 0) {
      this.#floor = this.#feed[excess - 1].seq;
      this.#feed = this.#feed.slice(excess);
    }
  }

  async get<K extends Kind>(kind: K, name: string): Promise<ResourceMap[K] | undefined> {
    this.check();
    const v = await unavailable(this.#ns.get(resourceKey(kind, name)).string());
    return v === null ? undefined : (JSON.parse(v) as ResourceMap[K]);
  }

  async list<K extends Kind>(kind: K): Promise<ResourceMap[K][]> {
    this.check();
    const res = await unavailable(
      this.#ns.getAll().prefix(resourceKey(kind, "")).sort("Key", "Ascend").exec(),
    );
    return res.kvs.map((kv) => JSON.parse(kv.value.toString("utf8")) as ResourceMap[K]);
  }

  async create<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void> {
    await this.#write(kind, name, "create", JSON.stringify(value));
  }

  async update<K extends Kind>(kind: K, name: string, value: ResourceMap[K]): Promise<void> {
    await this.#write(kind, name, "update", JSON.stringify(value));
  }

  async delete(kind: Kind, name: string): Promise<void> {
    await this.#write(kind, name, "delete");
  }

  /**
   * One compare-and-swap transaction: the key's existence is checked where the write commits, and the change is
   * put on the feed key in the same revision. Resolves once this node's watchers have seen the change (at once
   * when no other node wrote since the last change this node saw; else when the feed's watch catches up).
   */
  async #write(kind: Kind, name: string, op: Change["op"], value?: string): Promise<void> {
    this.check();
    const key = resourceKey(kind, name);
    const change = JSON.stringify({ kind, name, op });
    const cond = op === "create" ? this.#ns.if(key, "Create", "==", 0) : this.#ns.if(key, "Version", ">", 0);
    const write = op === "delete" ? this.#ns.delete().key(key) : this.#ns.put(key).value(value ?? "");
    const res = await unavailable(
      cond.then(this.#ns.get(FEED_KEY), write, this.#ns.put(FEED_KEY).value(change)).commit(),
    );
    if (!res.succeeded) throw op === "create" ? alreadyExists(kind, name) : notFound(kind, name);
    const seq = Number(res.header.revision);
    const prev = Number(res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? 0);
    if (prev <= this.#head) {
      this.#add([{ seq, kind, name, op }]);
      return;
    }
    // Another node wrote between the last change seen here and this one: let the watch deliver both, in order.
    await new Promise<void>((resolve, reject) => {
      if (this.#head >= seq) return resolve();
      this.#waiters.push({ seq, resolve });
      setTimeout(
        () =>
          reject(
            new WasmletError("UNAVAILABLE", `etcd store: the change feed did not reach revision ${seq}`),
          ),
        CATCH_UP_MS,
      ).unref();
    });
  }

  /** Store.changes; answers UNAVAILABLE for a seq older than the changes this node keeps. */
  override async changes(afterSeq: number): Promise<Change[]> {
    this.check();
    if (afterSeq < this.#floor) {
      throw new WasmletError(
        "UNAVAILABLE",
        `etcd store: changes after ${afterSeq} are no longer kept (oldest kept: ${this.#floor + 1}); relist instead`,
      );
    }
    return this.changesSince(afterSeq);
  }

  protected headSeq(): number {
    return this.#head;
  }

  protected changesSince(afterSeq: number): Change[] {
    let lo = 0;
    let hi = this.#feed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#feed[mid].seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return this.#feed.slice(lo).map((c) => ({ ...c }));
  }

  // Per-node records: this node's SQLite.

  appendLogs(entries: NewLogEntry[], dropped?: DroppedLogs): Promise<void> {
    return this.#local.appendLogs(entries, dropped);
  }
  readLogs(fn: string, options?: { afterId?: number; limit?: number }): Promise<LogEntry[]> {
    return this.#local.readLogs(fn, options);
  }
  droppedLogs(fn: string): Promise<number> {
    return this.#local.droppedLogs(fn);
  }
  deleteLogs(fn: string): Promise<void> {
    return this.#local.deleteLogs(fn);
  }
  acceptInvocation(inv: AsyncInvocation): Promise<{ invocation: AsyncInvocation; duplicate: boolean }> {
    return this.#local.acceptInvocation(inv);
  }
  getInvocation(id: string): Promise<AsyncInvocation | undefined> {
    return this.#local.getInvocation(id);
  }
  listInvocations(q?: InvocationQuery & { limit?: number }): Promise<AsyncInvocation[]> {
    return this.#local.listInvocations(q);
  }
  countInvocations(fn?: string): Promise<Record<InvocationStatus, number>> {
    return this.#local.countInvocations(fn);
  }
  claimInvocations(nowMs: number, limit: number): Promise<AsyncInvocation[]> {
    return this.#local.claimInvocations(nowMs, limit);
  }
  saveInvocations(invs: AsyncInvocation[]): Promise<void> {
    return this.#local.saveInvocations(invs);
  }
  requeueRunning(): Promise<number> {
    return this.#local.requeueRunning();
  }
  redriveInvocations(q: InvocationQuery): Promise<number> {
    return this.#local.redriveInvocations(q);
  }
  purgeInvocations(q: InvocationQuery & { beforeMs?: number }): Promise<number> {
    return this.#local.purgeInvocations(q);
  }
  markHandled(key: string, ids: string[], atMs: number): Promise<void> {
    return this.#local.markHandled(key, ids, atMs);
  }
  wasHandled(key: string, id: string): Promise<boolean> {
    return this.#local.wasHandled(key, id);
  }
  pruneHandled(beforeMs: number): Promise<number> {
    return this.#local.pruneHandled(beforeMs);
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    const w = this.#watcher;
    this.#watcher = undefined;
    await this.#relisting?.catch(() => {});
    await w?.cancel().catch(() => {});
    this.#client.close();
    await this.#local.close();
  }
}

/**
 * What a failed start tells the user: which of etcd's authentication, its permissions or the TLS handshake
 * refused this node, and which flag fixes it; anything else is "cannot reach". `config` is the client's, to ask
 * again without logging in when the login hid the reason.
 */
async function openError(e: unknown, options: EtcdStoreOptions, config: IOptions): Promise<WasmletError> {
  const at = options.endpoints.join(", ");
  const raw = e instanceof Error ? e.message : String(e);
  const why = connectFailure(raw);
  if (why === NO_REASON && config.auth) {
    // The connection failed during the login, which hides why: a call that needs no login tells.
    const probe = new Etcd3({ ...config, auth: undefined });
    try {
      await probe.maintenance.status();
    } catch (e2) {
      if (connectFailure(e2 instanceof Error ? e2.message : String(e2)) !== NO_REASON)
        return openError(e2, { ...options, auth: undefined }, { ...config, auth: undefined });
    } finally {
      probe.close();
    }
  }
  const user = options.auth?.username;
  const prefix = options.prefix ?? "/wasmlet/";
  const fail = (code: "UNAUTHORIZED" | "UNAVAILABLE", message: string) =>
    new WasmletError(code, `etcd store: ${message}`, { cause: e });
  if (e instanceof EtcdAuthenticationFailedError || /authentication failed/.test(raw))
    return fail(
      "UNAUTHORIZED",
      `authentication as user "${user}" failed at ${at}: wrong user name or password ` +
        "(--etcd-user with WASMLET_ETCD_PASSWORD or --etcd-password, or etcd://user:password@host:port)",
    );
  if (e instanceof EtcdPermissionDeniedError || /permission denied/.test(raw))
    return fail(
      "UNAUTHORIZED",
      `permission denied${user ? ` to user "${user}"` : ""} on the keys under "${prefix}" at ${at}: grant one of ` +
        `its roles readwrite on that prefix (etcdctl role grant-permission ROLE readwrite ${prefix} --prefix=true), ` +
        "or give a prefix it may use in the URL (etcd://host:port/PREFIX)",
    );
  if (/user name is empty/.test(raw))
    return fail(
      "UNAUTHORIZED",
      `${at} has authentication enabled and no user was given: give --etcd-user with WASMLET_ETCD_PASSWORD ` +
        "(or --etcd-password), or etcd://user:password@host:port",
    );
  if (options.tls && CLIENT_CERT_REFUSED.test(why))
    return fail(
      "UNAVAILABLE",
      `TLS: ${at} refused this node's client certificate (${why}): the members check clients ` +
        "(--client-cert-auth): give --etcd-cert and --etcd-key, a certificate and key signed by the CA in their " +
        "--trusted-ca-file",
    );
  if (options.tls && SERVER_NOT_TRUSTED.test(why))
    return fail(
      "UNAVAILABLE",
      `TLS: this node does not trust the certificate of ${at} (${why}): --etcd-ca must be the CA that signed the ` +
        "members' certificates, and the hosts in --store must be names or addresses those certificates are for (their subjectAltName)",
    );
  if (options.tls && /TLS|SSL|socket disconnected|wrong version number/i.test(why))
    return fail("UNAVAILABLE", `TLS handshake with ${at} failed (${why}): ${NO_TLS_HINT}`);
  return fail(
    "UNAVAILABLE",
    `cannot reach ${at}: ${why} (${options.tls ? NO_TLS_HINT : "if the members serve https, give --etcd-ca, and --etcd-cert/--etcd-key for mutual TLS"})`,
  );
}

/** What grpc-js says when it lost the reason a connection failed. */
const NO_REASON = "no connection established";

const NO_TLS_HINT =
  "do the members serve https on these ports (etcd --cert-file, --key-file)? Without TLS, leave --etcd-ca out";

/** TLS alerts a member sends when it does not accept this node's client certificate (or the lack of one). */
const CLIENT_CERT_REFUSED = /alert (bad certificate|certificate required|unknown ca|certificate unknown)/i;
/** Node's errors when it does not accept the member's certificate. */
const SERVER_NOT_TRUSTED = /verify|self[- ]signed|issuer|altnames|ERR_TLS_CERT|certificate/i;

/**
 * The reason inside grpc-js's "14 UNAVAILABLE: No connection established. Last error: <why> (<time>). Resolution
 * note: …", OpenSSL's "<hex>:error:<code>:SSL routines:<function>:<reason>:<file>:<line>:<detail>" cut to its reason.
 */
function connectFailure(raw: string): string {
  const last = /Last error: (?:Error: )?([\s\S]*?)\.?\s*Resolution note/.exec(raw);
  const why = (last ? last[1] : raw)
    .replace(/^Error(?: \[[A-Z_]+\])?: /, "")
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, "")
    .replace(
      /[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):[^:]*:\d+:(.*)/g,
      (_, reason: string, detail: string) => (detail.trim() ? `${reason}, ${detail.trim()}` : reason),
    )
    .trim();
  // grpc-js loses the reason when the connection fails during the login call ("Last error: null").
  return why === "null" || why === "" ? NO_REASON : why;
}

function toChange(kv: IKeyValue): Change {
  const { kind, name, op } = JSON.parse(kv.value.toString("utf8")) as Omit<Change, "seq">;
  return { seq: Number(kv.mod_revision), kind, name, op };
}

/** etcd's errors (unreachable members, deadlines, auth) become UNAVAILABLE naming the cause: the API answers 503. */
async function unavailable<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof WasmletError) throw e;
    throw new WasmletError("UNAVAILABLE", `etcd store: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}
