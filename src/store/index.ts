import { MemoryStore } from "./memory-store.js";
import { SqliteStore } from "./sqlite-store.js";
import type { Store } from "./types.js";

export { MemoryStore } from "./memory-store.js";
export { SqliteStore, type SqliteStoreOptions, WATCH_POLL_MS } from "./sqlite-store.js";
export * from "./types.js";

/** Which backend `openStore` opens: SQLite under `dataDir` (what serve uses), or process memory (tests, demos). */
export type StoreConfig = { kind: "sqlite"; dataDir: string; pollMs?: number } | { kind: "memory" };

/** Opens the configured store backend; the sqlite one creates `dataDir` and `state.db` when missing. */
export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case "sqlite":
      return new SqliteStore(config.dataDir, { pollMs: config.pollMs });
    case "memory":
      return new MemoryStore();
  }
}
