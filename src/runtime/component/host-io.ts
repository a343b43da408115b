// wasi:io (error, poll, streams) for transpiled components. Every stream here is over bytes in memory (request
// bodies, stdin, files, buffered outbound responses) or writes into a bounded collector, so nothing but a
// pollable ever waits.
import { blockUntil, type Invocation } from "./invocation.js";

/** How a host function returning `result<_, E>` reports E: jco passes an error's `payload` to the guest. */
export class ResultError extends Error {
  constructor(readonly payload: unknown) {
    super(typeof payload === "object" ? JSON.stringify(payload) : String(payload));
  }
}

/** wasi:io/error `error`. */
export class IoError {
  constructor(readonly message: string) {}
  toDebugString(): string {
    return this.message;
  }
}

/** wasi:io/poll `pollable`: ready when `isReady()` says so, or once performance.now() passes `until`. */
export class Pollable {
  constructor(
    readonly inv: Invocation,
    private readonly isReady: () => boolean,
    readonly until = Number.POSITIVE_INFINITY,
    /** Set to non-zero (and notified) by whoever makes the pollable ready from another thread. */
    readonly cell?: Int32Array,
  ) {}

  ready(): boolean {
    return this.isReady() || performance.now() >= this.until;
  }

  block(): void {
    blockUntil(this.inv, () => this.ready(), this.until, this.cell);
  }
}

/** A pollable that is always ready. */
export function readyPollable(inv: Invocation): Pollable {
  return new Pollable(inv, () => true);
}

/**
 * wasi:io/poll `poll`: blocks until at least one is ready; the indexes of the ready ones. Waits on the first
 * cross-thread cell among them (an outbound response), in slices, or else until the earliest timer.
 */
export function poll(list: Pollable[]): Uint32Array {
  const ready = (): number[] => list.flatMap((p, i) => (p.ready() ? [i] : []));
  let found = ready();
  if (found.length === 0 && list.length > 0) {
    const until = Math.min(...list.map((p) => p.until));
    const cell = list.find((p) => p.cell)?.cell;
    blockUntil(list[0].inv, () => ready().length > 0, until, cell);
    found = ready();
  }
  return new Uint32Array(found);
}

const CLOSED = { tag: "closed" } as const;

/** wasi:io/streams `input-stream` over bytes already in memory. */
export class InputStream {
  private pos = 0;
  constructor(
    private readonly inv: Invocation,
    private readonly data: Uint8Array,
  ) {}

  read(len: bigint): Uint8Array {
    if (this.pos >= this.data.length) throw new ResultError(CLOSED);
    const n = Math.min(Number(len), this.data.length - this.pos);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  blockingRead(len: bigint): Uint8Array {
    return this.read(len);
  }

  skip(len: bigint): bigint {
    if (this.pos >= this.data.length) throw new ResultError(CLOSED);
    const n = Math.min(Number(len), this.data.length - this.pos);
    this.pos += n;
    return BigInt(n);
  }

  blockingSkip(len: bigint): bigint {
    return this.skip(len);
  }

  subscribe(): Pollable {
    return readyPollable(this.inv);
  }
}

/** Largest write the host invites at once (check-write). */
const WRITE_BUDGET = 1n << 20n;

/** wasi:io/streams `output-stream` into a sink (a bounded collector, a file, a request body). */
export class OutputStream {
  constructor(
    private readonly inv: Invocation,
    private readonly sink: (bytes: Uint8Array) => void,
  ) {}

  checkWrite(): bigint {
    return WRITE_BUDGET;
  }

  write(bytes: Uint8Array): void {
    this.sink(bytes);
  }

  blockingWriteAndFlush(bytes: Uint8Array): void {
    this.sink(bytes);
  }

  flush(): void {}

  blockingFlush(): void {}

  subscribe(): Pollable {
    return readyPollable(this.inv);
  }

  writeZeroes(len: bigint): void {
    this.sink(new Uint8Array(Number(len)));
  }

  blockingWriteZeroesAndFlush(len: bigint): void {
    this.writeZeroes(len);
  }

  splice(src: InputStream, len: bigint): bigint {
    const data = src.read(len);
    this.sink(data);
    return BigInt(data.length);
  }

  blockingSplice(src: InputStream, len: bigint): bigint {
    return this.splice(src, len);
  }
}

/** The wasi:io imports, keyed as a transpiled component names them. */
export function ioImports(): Record<string, object> {
  return {
    "wasi:io/error": { Error: IoError },
    "wasi:io/poll": { Pollable, poll },
    "wasi:io/streams": { InputStream, OutputStream },
  };
}
