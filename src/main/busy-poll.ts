import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { availableParallelism } from "node:os";
import { DEFAULT_BUSY_POLL_US } from "../core/index.js";

export interface BusyPollOptions {
  /** The clock, in ms (default performance.now); tests pass their own. */
  now?: () => number;
  /** Runs a function on the next turn of the loop (default setImmediate); tests pass their own. */
  schedule?: (f: () => void) => void;
  /** Asked on every turn of a spin; true stops it (other threads of the process need the CPU). */
  otherWork?: () => boolean;
  /**
   * Nanoseconds this thread spent runnable but not running (waiting for a core) since the previous call; asked
   * at most once per CONTENTION_CHECK_MS of spinning. Default: the thread's /proc schedstat (see RunQueueWait);
   * tests pass their own.
   */
  runQueueWaitNs?: () => number;
  /**
   * Share (0–1) of the time waiting for a core above which a spin gives the core up (`serve --busy-poll-yield`);
   * undefined or 0: it never does. Off by default: in BENCH=tails (5 runs, quiet machine) yielding at 10 % made
   * X's p99 at 80 % of peak worse (6.8–16 ms, median 11.4, against 2.7–42, median 3.8, without).
   */
  contentionShare?: number;
}

/** How often a spin reads its thread's run-queue wait. */
export const CONTENTION_CHECK_MS = 1;
/** How long the poll stays off after it gave the core up (the other thread's burst is usually over by then). */
export const CONTENTION_BACKOFF_MS = 50;

/**
 * Adaptive busy-polling of the event loop, for the router's request thread. While requests come closer together
 * than `windowUs`, the loop does not go to sleep between them: it keeps itself awake with setImmediate, so that
 * libuv polls the sockets with a zero timeout instead of blocking in epoll_wait. A request that finds the thread
 * awake skips the wake-up: on these virtual machines a sleeping thread costs ~20–35 µs of extra CPU per request
 * to wake (measured on a plain node "hello" server: 14 µs per request when wrk keeps it busy, 36–49 µs when the
 * same requests arrive one at a time), and under load those wake-ups are what push the request thread over
 * its capacity in bursts. The spin stops `windowUs` after the last request, and only starts when the gap before
 * a request was shorter than the window, so a server with sparse traffic never spins; an idle one uses no CPU.
 * It also stops, and does not start, while `otherWork()` says threads of this process need the CPU (sandbox
 * workers running demoted functions): a spin would take their core for nothing. And it gives the core up when
 * another thread of the machine wants it: a spinning thread never sleeps, so the scheduler shares its core half
 * and half with whatever else lands there (a load generator, another process) instead of letting that run while
 * the router would have slept — optionally: measured, it did more harm than good here (see `contentionShare`). When asked to (`contentionShare`), once per CONTENTION_CHECK_MS the spin reads how
 * long its thread waited for a core (schedstat); past that share of the time, the spin stops and no new one starts
 * for CONTENTION_BACKOFF_MS.
 * (Seen on this 2-core machine: the open-loop generator and a spinning router on one core, the router at 99 %
 * CPU and 7.5k req/s served of 10.8k offered, latency growing to seconds.)
 * This is the event-loop counterpart of Linux's busy_poll sockets (and of DPDK's polling), for the same reason.
 */
export class BusyPoll {
  private last = Number.NEGATIVE_INFINITY;
  private spinning = false;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly schedule: (f: () => void) => void;
  private readonly otherWork: () => boolean;
  private readonly runQueueWaitNs: () => number;
  private readonly contentionShare: number;
  private lastCheck = 0;
  private backoffUntil = Number.NEGATIVE_INFINITY;
  /** Times the spin gave its core up to another thread (for metrics and the benchmark's diagnostics). */
  yields = 0;
  private spinStart = 0;
  private spunMs = 0;

  constructor(windowUs: number, options: BusyPollOptions = {}) {
    this.windowMs = windowUs / 1000;
    this.now = options.now ?? (() => performance.now());
    this.schedule = options.schedule ?? setImmediate;
    this.otherWork = options.otherWork ?? (() => false);
    this.contentionShare = options.contentionShare ?? 0;
    this.runQueueWaitNs =
      this.contentionShare > 0 ? (options.runQueueWaitNs ?? RunQueueWait.forThisThread()) : () => 0;
  }

  /** True while the loop is kept awake. */
  get active(): boolean {
    return this.spinning;
  }

  /** Wall time the loop was kept awake so far, in seconds (the current spin included). */
  get spinSeconds(): number {
    return (this.spunMs + (this.spinning ? this.now() - this.spinStart : 0)) / 1000;
  }

  /** Call on each request's arrival. */
  readonly arrived = (): void => {
    const now = this.now();
    const gap = now - this.last;
    this.last = now;
    if (!this.spinning && gap < this.windowMs && now >= this.backoffUntil && !this.otherWork()) {
      this.spinning = true;
      this.spinStart = now;
      this.lastCheck = now;
      this.runQueueWaitNs(); // starts the count from here
      this.schedule(this.spin);
    }
  };

  private readonly spin = (): void => {
    const now = this.now();
    if (now - this.last >= this.windowMs || this.otherWork() || this.contended(now)) {
      this.spinning = false;
      this.spunMs += now - this.spinStart;
    } else this.schedule(this.spin);
  };

  /** Whether, since the last check, this thread waited for its core more than `contentionShare` of the time. */
  private contended(now: number): boolean {
    if (this.contentionShare <= 0) return false;
    const elapsed = now - this.lastCheck;
    if (elapsed < CONTENTION_CHECK_MS) return false;
    this.lastCheck = now;
    if (this.runQueueWaitNs() / 1e6 <= this.contentionShare * elapsed) return false;
    this.backoffUntil = now + CONTENTION_BACKOFF_MS;
    this.yields++;
    return true;
  }
}

/**
 * Reads a thread's run-queue wait (the second field of /proc/<tid>/schedstat: ns spent runnable, not running)
 * with one pread of a file opened once. `forThisThread()` opens the calling thread's; where there is no such
 * file (not Linux, no schedstats) it returns a function that always says 0 (the spin then never yields to others).
 */
export class RunQueueWait {
  private readonly buf = Buffer.alloc(96);
  private last: number | undefined;

  private constructor(private readonly fd: number) {}

  static forThisThread(path = "/proc/thread-self/schedstat"): () => number {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return () => 0;
    }
    const r = new RunQueueWait(fd);
    if (r.total() === undefined) {
      closeSync(fd);
      return () => 0;
    }
    return () => r.sinceLast();
  }

  /** Total wait in ns, or undefined when the file cannot be read or parsed. */
  private total(): number | undefined {
    try {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      const wait = Number(this.buf.toString("latin1", 0, n).split(" ")[1]);
      return Number.isFinite(wait) ? wait : undefined;
    } catch {
      return undefined;
    }
  }

  private sinceLast(): number {
    const t = this.total();
    if (t === undefined) return 0;
    const d = this.last === undefined ? 0 : t - this.last;
    this.last = t;
    return d;
  }
}

/**
 * The window `serve` uses unless told: DEFAULT_BUSY_POLL_US when the machine has a core beyond the router
 * processes' (for the other threads: log writer, sandbox pool, compilers, and whatever else runs on the
 * machine), else 0. A spinning router holds its core for as long as traffic is steady.
 */
export function defaultBusyPollUs(routers: number, cores = usableCores()): number {
  return cores > routers ? DEFAULT_BUSY_POLL_US : 0;
}

/**
 * Cores this process may use: the CPUs it may run on (availableParallelism, which follows the affinity mask),
 * capped by a cgroup v2 CPU quota (`cpu.max`, e.g. a container limited to 1 CPU on a bigger host), which
 * node 20 does not apply. A spinning router in a 1-CPU container would burn its whole quota.
 */
export function usableCores(
  cpuMax: string | undefined = readCpuMax(),
  parallelism = availableParallelism(),
): number {
  const m = /^(\d+)\s+(\d+)/.exec(cpuMax ?? "");
  if (!m || Number(m[2]) === 0) return parallelism; // "max 100000": no quota
  return Math.max(1, Math.min(parallelism, Math.floor(Number(m[1]) / Number(m[2]))));
}

function readCpuMax(): string | undefined {
  try {
    return readFileSync("/sys/fs/cgroup/cpu.max", "utf8");
  } catch {
    return undefined;
  }
}
