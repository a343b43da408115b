import type { Campaign, Lease } from "etcd3";
import type { EtcdStore } from "./etcd-store.js";

/** A serving node as it registers itself in etcd (`wasmlet node list`, `GET /api/v1/nodes`). */
export interface NodeInfo {
  /** Unique per process: `<hostname>-<pid>-<random>`. */
  id: string;
  role: string;
  routerUrl: string;
  controlUrl: string;
  startedAt: string;
  /** Whether this node holds the cluster's single-firing duties (gc, timers, queue triggers, canaries). */
  leader?: boolean;
}

/** Seconds a node's lease lives without a keep-alive: a node killed -9 is gone from the list, and its duties move, after this. */
export const NODE_LEASE_TTL_S = 5;
const NODES_PREFIX = "nodes/";
const RETRY_MS = 1000;

/**
 * This node's membership: a key `nodes/<id>` under a lease kept alive while the process runs. A lost lease (etcd
 * unreachable for longer than the TTL) is granted again and the key rewritten.
 */
export class EtcdMembership {
  #lease: Lease | undefined;
  #info: NodeInfo;
  #closed = false;

  constructor(
    private readonly store: EtcdStore,
    info: NodeInfo,
    private readonly log: (line: string) => void,
    private readonly ttlS = NODE_LEASE_TTL_S,
  ) {
    this.#info = info;
  }

  /** Registers the node; resolves once the key is written. */
  async start(): Promise<void> {
    const lease = this.store.namespace.lease(this.ttlS);
    this.#lease = lease;
    lease.on("lost", (e) => {
      if (this.#closed || this.#lease !== lease) return;
      this.log(`wasmlet: node lease lost (${e.message}); registering again`);
      this.#again();
    });
    await lease.put(NODES_PREFIX + this.#info.id).value(JSON.stringify(this.#info));
  }

  /** Rewrites this node's entry (e.g. when it becomes or stops being the leader). */
  async update(patch: Partial<NodeInfo>): Promise<void> {
    this.#info = { ...this.#info, ...patch };
    await this.#lease?.put(NODES_PREFIX + this.#info.id).value(JSON.stringify(this.#info));
  }

  #again(): void {
    setTimeout(() => {
      if (this.#closed) return;
      this.start().catch(() => this.#again());
    }, RETRY_MS).unref();
  }

  /** Removes the node at once (revokes its lease). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#lease?.revoke().catch(() => {});
  }
}

/** Every node whose lease is alive, by id. */
export async function listNodes(store: EtcdStore): Promise<NodeInfo[]> {
  const res = await store.namespace.getAll().prefix(NODES_PREFIX).sort("Key", "Ascend").exec();
  return res.kvs.map((kv) => JSON.parse(kv.value.toString("utf8")) as NodeInfo);
}

/** What runs on exactly one node at a time. */
export interface Duty {
  /** Called when this node is elected; the duty runs until `stop`. */
  start(): void | Promise<void>;
  /** Called when this node stops being the leader (lease lost, resigned, closing); no work starts after. */
  stop(): void | Promise<void>;
}

/**
 * Single-firing duties on a cluster of nodes: an etcd election (`elections/<name>`) under a lease of `ttlS`. The
 * elected node runs the duty; when its lease expires (the process died or lost etcd) another candidate is
 * elected within about the TTL, and a node whose campaign failed stops the duty and campaigns again.
 */
export class EtcdLeadership {
  #campaign: Campaign | undefined;
  #leading = false;
  #closed = false;
  /** Serialises start/stop of the duty. */
  #chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: EtcdStore,
    private readonly name: string,
    private readonly nodeId: string,
    private readonly duty: Duty,
    private readonly opts: {
      log: (line: string) => void;
      ttlS?: number;
      onChange?: (leading: boolean) => void;
    },
  ) {}

  /** Whether this node holds the duty now. */
  get leading(): boolean {
    return this.#leading;
  }

  /** Starts campaigning (returns at once; the duty starts when elected). */
  start(): void {
    if (this.#closed) return;
    const election = this.store.namespace.election(
      `elections/${this.name}`,
      this.opts.ttlS ?? NODE_LEASE_TTL_S,
    );
    const campaign = election.campaign(this.nodeId);
    this.#campaign = campaign;
    campaign.on("elected", () => {
      if (this.#campaign !== campaign || this.#closed) return;
      this.#set(true);
    });
    campaign.on("error", (e) => {
      if (this.#campaign !== campaign) return;
      this.opts.log(`wasmlet: ${this.name} election failed (${e.message}); campaigning again`);
      this.#campaign = undefined;
      this.#set(false);
      setTimeout(() => this.start(), RETRY_MS).unref();
    });
  }

  #set(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.opts.log(`wasmlet: ${leading ? "now runs" : "no longer runs"} the cluster's ${this.name} duties`);
    this.opts.onChange?.(leading);
    this.#chain = this.#chain
      .then(() => (leading ? this.duty.start() : this.duty.stop()))
      .catch((e) => this.opts.log(`wasmlet: ${this.name} duties: ${e instanceof Error ? e.message : e}`));
  }

  /** Stops the duty and resigns, so another node is elected at once. */
  async close(): Promise<void> {
    this.#closed = true;
    const c = this.#campaign;
    this.#campaign = undefined;
    this.#set(false);
    await this.#chain;
    await c?.resign().catch(() => {});
  }
}
