import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { DEFAULT_BUSY_POLL_US } from "../core/index.js";

export interface BusyPollOptions {
  /** The clock, in ms (default performance.now); tests pass their own. */
  now?: () => number;
  /** Runs a function on the next turn of the loop (default setImmediate); tests pass their own. */
  schedule?: (f: () => void) => void;
  /** Asked on every turn of a spin; true stops it (other threads of the process need the CPU). */
  otherWork?: () => boolean;
}

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
 * workers running demoted functions): a spin would take their core for nothing.
 * This is the event-loop counterpart of Linux's busy_poll sockets (and of DPDK's polling), for the same reason.
 */
export class BusyPoll {
  private last = Number.NEGATIVE_INFINITY;
  private spinning = false;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly schedule: (f: () => void) => void;
  private readonly otherWork: () => boolean;

  constructor(windowUs: number, options: BusyPollOptions = {}) {
    this.windowMs = windowUs / 1000;
    this.now = options.now ?? (() => performance.now());
    this.schedule = options.schedule ?? setImmediate;
    this.otherWork = options.otherWork ?? (() => false);
  }

  /** True while the loop is kept awake. */
  get active(): boolean {
    return this.spinning;
  }

  /** Call on each request's arrival. */
  readonly arrived = (): void => {
    const now = this.now();
    const gap = now - this.last;
    this.last = now;
    if (!this.spinning && gap < this.windowMs && !this.otherWork()) {
      this.spinning = true;
      this.schedule(this.spin);
    }
  };

  private readonly spin = (): void => {
    if (this.now() - this.last < this.windowMs && !this.otherWork()) this.schedule(this.spin);
    else this.spinning = false;
  };
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
