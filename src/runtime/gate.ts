import { WasmletError } from "../core/index.js";
import type { CancelToken } from "./types.js";

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
  unsubscribe: (() => void) | undefined;
}

/**
 * One function's concurrency limit and queue, in one process. A turn is taken with tryEnter (the fast path: a
 * counter) or waited for in FIFO order; every turn taken is given back with leave(). A waiter gives up at its
 * deadline (504) or when its caller goes away, and never holds a turn it did not get.
 */
export class FunctionGate {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  /** Invocations holding a turn now. */
  get inFlight(): number {
    return this.active;
  }

  /** Invocations waiting for a turn now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Takes a turn if fewer than `limit` are in flight and nobody waits (waiters keep their order). */
  tryEnter(limit: number): boolean {
    if (this.active >= limit || this.waiting.length > 0) return false;
    this.active++;
    return true;
  }

  /**
   * Waits for a turn; resolves holding it. Rejects with OVERLOADED at once when `maxWaiting` already wait,
   * with FUNCTION_TIMEOUT at `deadlineAt` (performance.now() time), with CANCELLED when the caller goes.
   */
  wait(name: string, maxWaiting: number, deadlineAt: number, cancel?: CancelToken): Promise<void> {
    if (this.waiting.length >= maxWaiting)
      return Promise.reject(
        new WasmletError(
          "OVERLOADED",
          `function ${name} is at its concurrency limit and ${maxWaiting} requests already wait for it`,
        ),
      );
    if (cancel?.cancelled)
      return Promise.reject(new WasmletError("CANCELLED", `function ${name}: the caller went away`));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(
          () =>
            this.drop(
              waiter,
              new WasmletError("FUNCTION_TIMEOUT", `function ${name} timed out waiting for a free turn`),
            ),
          Math.max(0, deadlineAt - performance.now()),
        ),
        unsubscribe: undefined,
      };
      this.waiting.push(waiter);
      if (cancel)
        waiter.unsubscribe = cancel.onCancel(() =>
          this.drop(waiter, new WasmletError("CANCELLED", `function ${name}: the caller went away`)),
        );
    });
  }

  /** Gives a turn back; the longest waiter gets it. */
  leave(): void {
    const next = this.waiting.shift();
    if (!next) {
      this.active--;
      return;
    }
    // The turn passes straight to the waiter: `active` stays as it is.
    clearTimeout(next.timer);
    next.unsubscribe?.();
    next.resolve();
  }

  /** Invocations holding a turn, and waiting for one. */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  private drop(waiter: Waiter, err: WasmletError): void {
    const i = this.waiting.indexOf(waiter);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    clearTimeout(waiter.timer);
    waiter.unsubscribe?.();
    waiter.reject(err);
  }
}
