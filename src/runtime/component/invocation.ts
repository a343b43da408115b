import type { OutboundRule } from "../../core/index.js";
import type { Waiter } from "../runner.js";
import type { OverlayFs } from "../wasi/index.js";

/**
 * Thrown by a host call to stop the guest: its deadline passed, its caller went away, or (`budget`) it may not go
 * on on this thread — its share of the request thread is spent, or it wants to wait, which only a worker may do —
 * and is to be run again on a worker.
 */
export class StopSignal extends Error {
  constructor(readonly kind: "timeout" | "cancelled" | "budget") {
    super(
      kind === "timeout"
        ? "deadline exceeded"
        : kind === "cancelled"
          ? "cancelled: the caller went away"
          : "stopped to be run on a worker",
    );
  }
}

/** Thrown by `wasi:cli/exit`; unwinds the guest to the runner. */
export class ExitSignal extends Error {
  constructor(readonly code: number) {
    super(`exit status ${code}`);
  }
}

/** Thrown when the guest writes more to its response body (stdout) than the function's output limit. */
export class OutputLimitSignal extends Error {}

/** Bytes written by the guest to one of its outputs, bounded. */
export class ByteCollector {
  private chunks: Uint8Array[] = [];
  size = 0;

  /**
   * @param limit most bytes kept; past it, `throw` fails the run (stdout: a body is never cut) and `tail` keeps the
   * last `limit` bytes (stderr: the log keeps the end, where the reason is).
   */
  constructor(
    private readonly limit: number,
    private readonly onOver: "throw" | "tail",
  ) {}

  push(bytes: Uint8Array): void {
    if (this.size + bytes.length > this.limit && this.onOver === "throw")
      throw new OutputLimitSignal(`stdout over the function's limit of ${this.limit} bytes`);
    // The guest's buffer may be a view of its memory that it reuses: keep a copy.
    this.chunks.push(bytes.slice(Math.max(0, bytes.length - this.limit)));
    this.size += Math.min(bytes.length, this.limit);
    while (this.size - this.chunks[0].length >= this.limit)
      this.size -= (this.chunks.shift() as Uint8Array).length;
  }

  bytes(): Uint8Array {
    if (this.chunks.length === 1 && this.size <= this.limit) return this.chunks[0];
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return this.size > this.limit ? out.subarray(this.size - this.limit) : out;
  }
}

/** Everything the host needs for one run of a component; made per run, dropped after it. */
export interface Invocation {
  /** performance.now() at which the run must stop. */
  deadlineAt: number;
  /** Where the run may wait; absent on the request thread, where a run that wants to wait is stopped (`budget`). */
  waiter?: Waiter;
  args: string[];
  env: [string, string][];
  stdin: Uint8Array;
  /** The stream `get-stdin` hands out, made on first use (one per run: reads go on where the last stopped). */
  stdinStream?: object;
  stdout: ByteCollector;
  stderr: ByteCollector;
  fs: OverlayFs;
  /** The function's parsed outbound allow-list. */
  outbound: readonly OutboundRule[];
  /** What `wasi:config/store` answers: the function's configs and secrets as `<name>/<key>` → value. */
  config: readonly [string, string][];
  /** Adds a line to what the function's log shows for this invocation (stderr). */
  log(line: string): void;
}

/**
 * Blocks until `ready()`, `until` (performance.now() time) or the deadline; throws StopSignal at the deadline or on
 * cancel. With `cell`, the wait is on its slot 0 becoming non-zero (set by whoever makes `ready()` true), in
 * slices so that a cancel is seen within one.
 */
export function blockUntil(
  inv: Invocation,
  ready: () => boolean,
  until = Number.POSITIVE_INFINITY,
  cell?: Int32Array,
): void {
  let parked = false;
  const waiter = inv.waiter;
  try {
    for (;;) {
      if (ready()) return;
      const now = performance.now();
      if (now >= inv.deadlineAt) throw new StopSignal("timeout");
      if (!waiter) throw new StopSignal("budget");
      if (waiter.cancelled) throw new StopSignal("cancelled");
      if (now >= until) return;
      const ms = Math.min(inv.deadlineAt, until) - now;
      if (!parked && ms >= 5) {
        parked = true;
        waiter.parked(true);
      }
      if (cell) Atomics.wait(cell, 0, 0, Math.min(ms, CANCEL_CHECK_MS));
      else if (!waiter.wait(ms)) throw new StopSignal("cancelled");
    }
  } finally {
    if (parked) waiter?.parked(false);
  }
}

/** How often a wait on something else than the worker's control cell looks for a cancel. */
const CANCEL_CHECK_MS = 20;
