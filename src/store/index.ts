import { EtcdStore } from "./etcd-store.js";
import type { EtcdConnection } from "./etcd-url.js";
import { MemoryStore } from "./memory-store.js";
import { SqliteStore } from "./sqlite-store.js";
import type { Store } from "./types.js";

export {
  type Duty,
  EtcdLeadership,
  EtcdMembership,
  listNodes,
  NODE_LEASE_TTL_S,
  type NodeInfo,
} from "./etcd-leases.js";
export { EtcdStore, type EtcdStoreOptions } from "./etcd-store.js";
export { type EtcdConnection, parseEtcdUrl, redact } from "./etcd-url.js";
export { MemoryStore } from "./memory-store.js";
export { SqliteStore, type SqliteStoreOptions, WATCH_POLL_MS } from "./sqlite-store.js";
export * from "./types.js";

/**
 * Which backend `openStore` opens: SQLite under `dataDir` (what serve uses by default), an etcd cluster shared by
 * several nodes (each keeping its invocation records and logs in SQLite under its own `dataDir`), or process memory
 * (tests, demos).
 */
export type StoreConfig =
  | { kind: "sqlite"; dataDir: string; pollMs?: number }
  | ({ kind: "etcd"; dataDir: string } & EtcdConnection)
  | { kind: "memory" };

/** Opens the configured store backend; sqlite and etcd create `dataDir` and `state.db` when missing. */
export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case "sqlite":
      return new SqliteStore(config.dataDir, { pollMs: config.pollMs });
    case "etcd":
      return EtcdStore.open({
        endpoints: config.endpoints,
        dataDir: config.dataDir,
        prefix: config.prefix,
        auth: config.auth,
        tls: config.tls && {
          ca: Buffer.from(config.tls.ca),
          cert: config.tls.cert === undefined ? undefined : Buffer.from(config.tls.cert),
          key: config.tls.key === undefined ? undefined : Buffer.from(config.tls.key),
        },
      });
    case "memory":
      return new MemoryStore();
  }
}
