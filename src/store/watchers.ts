import type { Change } from "./types.js";

interface Watcher {
  /** Highest seq this watcher has been given (or the head when it subscribed). */
  cursor: number;
  listener: (change: Change) => void;
}

/**
 * Fans the change feed out to watchers, each with its own cursor, so every watcher sees every change after
 * its subscription exactly once and in seq order — whether the change was written here or by another process.
 */
export class WatcherSet {
  readonly #watchers = new Set<Watcher>();
  #draining = false;
  #again = false;

  constructor(
    private readonly head: () => number,
    private readonly since: (afterSeq: number) => Change[],
    private readonly onCountChange: (count: number) => void = () => {},
  ) {}

  /** Number of subscribed watchers. */
  get size(): number {
    return this.#watchers.size;
  }

  /** Subscribes from the current head on; returns the unsubscribe function (idempotent). */
  add(listener: (change: Change) => void): () => void {
    const w: Watcher = { cursor: this.head(), listener };
    this.#watchers.add(w);
    this.onCountChange(this.#watchers.size);
    return () => {
      if (this.#watchers.delete(w)) this.onCountChange(this.#watchers.size);
    };
  }

  /** Delivers every change not yet given to each watcher. Re-entrant calls (a listener that writes) are queued. */
  drain(): void {
    if (this.#watchers.size === 0) return;
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = true;
    try {
      do {
        this.#again = false;
        let min = Number.POSITIVE_INFINITY;
        for (const w of this.#watchers) min = Math.min(min, w.cursor);
        if (min === Number.POSITIVE_INFINITY) return;
        for (const change of this.since(min)) {
          for (const w of this.#watchers) {
            if (change.seq <= w.cursor) continue;
            w.cursor = change.seq;
            try {
              w.listener(change);
            } catch (e) {
              // A failing watcher must not fail the write that triggered it, nor starve the other watchers.
              process.emitWarning(`store watcher threw: ${e instanceof Error ? e.message : String(e)}`);
            }
          }
        }
      } while (this.#again);
    } finally {
      this.#draining = false;
    }
  }
}
