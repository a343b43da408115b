/**
 * Serialises async work per key (a function's name), so two concurrent updates of one function cannot both
 * claim the same next version, and two concurrent creates cannot both push an image.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const mine = prev.then(work, work);
    const tail = mine.catch(() => {});
    this.#tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** The key under which route clash checks and writes, and function deletes, are serialised. */
export const ROUTES_LOCK = "\0routes";

/**
 * The key under which secret and config writes, and the checks of the functions that name them, are serialised:
 * a function is never stored naming a secret a concurrent delete just removed.
 */
export const VALUES_LOCK = "\0values";
