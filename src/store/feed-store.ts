import { closed } from "./errors.js";
import type { Change } from "./types.js";
import { WatcherSet } from "./watchers.js";

/**
 * What every Store backend shares: the closed guard and the read side of the change feed (`changes`, `head`,
 * `watch`), over two backend hooks. A backend calls `check()` first in each of its own methods and
 * `watchers.drain()` after each committed write.
 */
export abstract class FeedStore {
  /** Set by the backend's `close()`; from then on every call throws UNAVAILABLE. */
  protected isClosed = false;
  /** The watchers of this store's change feed, each with its own cursor. */
  protected readonly watchers = new WatcherSet(
    () => this.headSeq(),
    (after) => this.changesSince(after),
    (count) => this.onWatcherCount(count),
  );

  /** Highest seq in the change feed (0 when empty). Called only while the store is open. */
  protected abstract headSeq(): number;

  /** The changes with seq > `afterSeq`, in seq order, as copies the caller may keep. */
  protected abstract changesSince(afterSeq: number): Change[];

  /** Called whenever the number of watchers changes; the default does nothing. */
  protected onWatcherCount(_count: number): void {}

  /** Store.changes: the feed after `afterSeq`; throws UNAVAILABLE once closed. */
  async changes(afterSeq: number): Promise<Change[]> {
    this.check();
    return this.changesSince(afterSeq);
  }

  /** Store.head: the current head seq; throws UNAVAILABLE once closed. */
  async head(): Promise<number> {
    this.check();
    return this.headSeq();
  }

  /** Store.watch: every change after the current head, once, in order; throws UNAVAILABLE once closed. */
  watch(listener: (change: Change) => void): () => void {
    this.check();
    return this.watchers.add(listener);
  }

  /** Throws UNAVAILABLE once the store is closed. */
  protected check(): void {
    if (this.isClosed) throw closed();
  }
}
