// Open-loop, constant-rate HTTP load (wrk2-like) for the benchmark: compiles loadgen.c once per source version
// and runs it. wrk's Lua pacing makes wrk itself queue requests at 100+ connections; this one schedules requests
// by the clock and measures latency from the scheduled time (no coordinated omission). Loopback only.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { WasmletError } from "../../src/core/index.js";
import { ROOT } from "../procs.js";

const run = promisify(execFile);
export const LOADGEN_SOURCE = join(ROOT, "bench/loadgen/loadgen.c");

/** Latency percentiles in milliseconds (1 µs resolution below 1 ms, < 1 % relative error above). */
export interface LatencySummary {
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
}

/**
 * What one run measured; every count covers only requests scheduled inside the measured window (after warmup).
 * Field names are those of the program's JSON line.
 */
export interface OpenLoopResult {
  /** Requests per second asked for. */
  rate_target: number;
  /** Responses completed inside the measured window, per second: the server's throughput at this load. */
  rate_achieved: number;
  /** Requests written. */
  sent: number;
  /** Complete responses (any status). */
  completed: number;
  /** Socket errors, malformed responses, timeouts and body mismatches (non-2xx answers are not errors). */
  errors: number;
  /** Complete responses whose status is not 2xx. */
  non2xx: number;
  /** Requests outstanding longer than the timeout (their connection was reset). */
  timeouts: number;
  /** Connections re-opened after the server closed them (`Connection: close` or EOF). */
  reconnects: number;
  /** Checked bodies (first response, then every 1000th) that differed from `expectBody`. */
  body_mismatch: number;
  /** Requests still queued or in flight when the run ended (≤ 3 s after the window): their latency is missing. */
  incomplete: number;
  /** Longest queue of due requests waiting for an idle connection. */
  backlog_max: number;
  /** Response complete − scheduled send time: what an open stream of users sees. */
  corrected: LatencySummary;
  /** Response complete − actual write: what the server took once it had the request. */
  service: LatencySummary;
  /** CPU time the generator itself used (getrusage), over the whole run. */
  cpu_user_s: number;
  cpu_sys_s: number;
  /** (user + sys) / wall time of the run, in %. */
  cpu_pct: number;
  /** Length of the measured window in seconds. */
  duration_s: number;
  /** Wall time of the whole run (connect, warmup, window, drain). */
  elapsed_s: number;
  arrivals: "fixed" | "poisson";
  /** How the generator sleeps between sends: "epoll_pwait2" or "timerfd". */
  timer: string;
}

export interface OpenLoopOptions {
  /** Requests per second to schedule. */
  rate: number;
  /** Keep-alive connections; a due request waits in a FIFO queue when all are busy. */
  connections: number;
  /** Measured window in seconds. */
  seconds: number;
  /** Seconds of load before the window, excluded from every statistic (default 0). */
  warmupSeconds?: number;
  /** Evenly spaced sends (default) or exponential gaps of the same mean (a Poisson stream). */
  arrivals?: "fixed" | "poisson";
  /** When set, the first response's body (and every 1000th) must equal this exactly. */
  expectBody?: string;
  /** A request outstanding longer than this counts as a timeout (default 10000). */
  timeoutMs?: number;
  /**
   * Wake up to this many µs after a send is due and send everything due then (default 0: wake at each one).
   * Halves the generator's CPU at ~10k req/s with 1000; the delay is charged to `corrected` latency.
   */
  batchUs?: number;
  /**
   * Diagnostics: writes one line per measured response to this file — scheduled time (µs since the window
   * began), wait before it could be sent (µs), service time (µs), connection index.
   */
  trace?: string;
  /** Runs the generator on these CPUs only (taskset -c, e.g. "1"): keeps it off the server's core. */
  cpus?: string;
}

export function isLoopbackUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === "http:" && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(u.hostname);
}

/**
 * Path of the compiled generator, compiling it with the machine's `cc` into `<repo>/.cache/loadgen/` when this
 * version of the source has not been compiled yet. Throws UNAVAILABLE with the compiler's output if it fails.
 */
export async function ensureLoadgen(): Promise<string> {
  const source = readFileSync(LOADGEN_SOURCE);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 12);
  const dir = join(ROOT, ".cache/loadgen");
  const bin = join(dir, `loadgen-${hash}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  // Compile beside the target and rename: concurrent callers never see a half-written binary.
  const tmp = `${bin}.tmp-${process.pid}-${Date.now()}`;
  try {
    await run("cc", ["-O2", "-Wall", "-Wextra", "-o", tmp, LOADGEN_SOURCE, "-lm"], { timeout: 60_000 });
    renameSync(tmp, bin);
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as { stderr?: string; message: string };
    throw new WasmletError("UNAVAILABLE", `cannot compile ${LOADGEN_SOURCE}: ${err.stderr || err.message}`, {
      cause: e,
    });
  }
  return bin;
}

/** Runs the generator against `url` (http on a loopback host only) and returns what it measured. */
export async function openLoop(url: string, opts: OpenLoopOptions): Promise<OpenLoopResult> {
  if (!isLoopbackUrl(url))
    throw new WasmletError("INVALID_ARGUMENT", `url: refusing to load ${url}: only http on a loopback host`);
  for (const [name, v] of [
    ["rate", opts.rate],
    ["connections", opts.connections],
    ["seconds", opts.seconds],
  ] as const) {
    if (!(Number.isFinite(v) && v > 0))
      throw new WasmletError("INVALID_ARGUMENT", `${name}: must be > 0, got ${v}`);
  }
  const warmup = opts.warmupSeconds ?? 0;
  const args = [
    "--url",
    url,
    "--rate",
    String(opts.rate),
    "--connections",
    String(Math.round(opts.connections)),
  ];
  args.push("--duration", String(opts.seconds), "--warmup", String(warmup));
  args.push("--arrivals", opts.arrivals ?? "fixed");
  if (opts.expectBody !== undefined) args.push("--expect-body", opts.expectBody);
  if (opts.timeoutMs !== undefined) args.push("--timeout-ms", String(opts.timeoutMs));
  if (opts.batchUs !== undefined) args.push("--batch-us", String(opts.batchUs));
  if (opts.trace !== undefined) args.push("--trace", opts.trace);
  const bin = await ensureLoadgen();
  let stdout: string;
  try {
    // The program ends by itself within seconds + warmup + 5 s; the timeout here is only a backstop.
    const [cmd, argv] = opts.cpus === undefined ? [bin, args] : ["taskset", ["-c", opts.cpus, bin, ...args]];
    ({ stdout } = await run(cmd, argv, { timeout: (opts.seconds + warmup + 15) * 1000 }));
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new WasmletError("INTERNAL", `loadgen ${args.join(" ")} failed: ${err.stderr || err.message}`, {
      cause: e,
    });
  }
  const line = stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as OpenLoopResult;
}
