// Load generation with wrk (Debian), on loopback only, bounded in time.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);
export const WRK = "/usr/bin/wrk";
export const hasWrk = () => existsSync(WRK);

export interface LoadResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** Slowest request seen (wrk's "Latency ... Max"). */
  maxMs: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

/** Runs wrk against `url` for `seconds` with `connections` (1 thread, as the 2-core machine needs one for the server). */
export async function wrk(
  url: string,
  opts: {
    seconds?: number;
    connections?: number;
    script?: string;
    scriptArgs?: string[];
    cpus?: string;
  } = {},
): Promise<LoadResult> {
  if (!new URL(url).hostname.match(/^(127\.|localhost$|\[::1\]$)/))
    throw new Error(`refusing to load ${url}: loopback only`);
  const args = ["-t1", `-c${opts.connections ?? 32}`, `-d${opts.seconds ?? 5}s`, "--latency"];
  if (opts.script) args.push("-s", opts.script);
  const tail = opts.scriptArgs?.length ? ["--", ...opts.scriptArgs] : [];
  const argv = [...args, url, ...tail];
  // `cpus`: taskset -c, keeping wrk off the server's core.
  const [cmd, all] = opts.cpus === undefined ? [WRK, argv] : ["taskset", ["-c", opts.cpus, WRK, ...argv]];
  const { stdout } = await run(cmd, all, { timeout: ((opts.seconds ?? 5) + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
  const p = (q: string) => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    return m ? toMs(m[1], m[2]) : Number.NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const max = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(stdout);
  return { rps, p50ms: p("50"), p99ms: p("99"), errors, maxMs: max ? toMs(max[1], max[2]) : Number.NaN };
}
