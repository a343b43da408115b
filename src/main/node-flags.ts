import { nodeFlags } from "../core/index.js";
import { load } from "./malloc-tune.js";

/**
 * V8 flags `wasmlet serve` runs with. `--min-semi-space-size=16` (MiB: the young generation's semi-spaces start at
 * Node 20's largest default size, 16, instead of 1): V8 shrinks the young generation back to its minimum whenever
 * the allocation rate drops (an idle server), and when load returned the request thread scavenged about twice as
 * often until it had grown again, and more of each request's garbage outlived two scavenges into the old
 * generation (BENCH=tails measures each server after a minute of idling): an open loop at ~17k req/s after 25 s
 * of idle saw 573-590 scavenges in a 9 s window without the flag, 258-283 with it (three servers each, this
 * machine). V8 reads it when the heap is set up, so it cannot be set from inside (v8.setFlagsFromString has no
 * effect then).
 *
 * `--v8-pool-size=0`: V8's platform workers sized to the CPUs the process may use (node's own rule for 0: one
 * fewer, at least one) instead of node's fixed 4. Those threads run V8's background work — TurboFan tier-up of hot
 * wasm code, concurrent marking and sweeping, a scavenge's parallel tasks — at the request thread's priority. On a
 * 2-core machine four of them could take both cores together: in the first 10 s rotation over 1,000 of 10,000
 * freshly deployed functions (the density bench) V8 tiered up each module's hot code on its own (a perf profile of
 * the workers: 90 % `BackgroundCompileJob`, TurboFan compiling wasm), ~7 s of CPU over the four, and the request
 * thread waited 255-284 ms of every second for a core (p99 39.8-83.5 ms; 4 runs). With one worker the same work
 * took one core at most: the request thread waited 99 ms/s and p99 was 27.0-28.9 ms (2 runs, interleaved with the
 * first two at 39.8 and 39.9); rotation 2, after the tier-up, was the same either way (p99 15-18 ms). Unlike
 * lowering the workers' priority (`--helper-nice`), the helper a collection's parallel phase waits for keeps the
 * request thread's priority. Router processes of `--workers` inherit these flags (cluster.fork: the execArgv).
 *
 * `--no-allocation-site-pretenuring`: V8 allocates straight into the old generation what an allocation site makes
 * once the site's objects survived scavenges at a high rate (`--trace-pretenuring` shows sites going "undecided =>
 * tenure" while functions are deployed and cold-started). Objects made there for a request are old and dead once it
 * is answered, but a scavenge counts an old object as live until the next mark-compact, so the young objects they
 * point to survive and are promoted too, which keeps survival rates up: a server that got into that state stayed
 * in it. Measured with --trace-gc-nvp, 1,000 (or 100) functions taking turns: in that state 2.5 MB promoted per
 * scavenge and 5.3-10.4 ms per scavenge, in every window (what was promoted, per the sampling heap profiler: whole
 * requests — their IncomingMessage, response and headers, the router's and the WASI host's objects); otherwise
 * 0.35 MB and 1.2-2.2 ms. 8 of the 9 servers measured with 2,000 or 10,000 functions deployed got into it, 2 of 7
 * with 1,100, none where no function had been evicted from the prepared cache and prepared again (4). Without
 * pretenuring, 2,000 functions: 0.03 MB and 1.5-2.5 ms in every window after the first (0.19 MB, 3.4 ms). The density
 * bench's layout (10,000 deployed, 1,000 rotated, 2 servers each, interleaved): scavenges 6.0-9.3 ms on average and
 * p99 12.7-22.0 ms in the rotations after the first with pretenuring, 1.3-1.8 ms and 7.3-13.2 ms without.
 */
export const SERVE_NODE_FLAGS = [
  "--min-semi-space-size=16",
  "--v8-pool-size=0",
  "--no-allocation-site-pretenuring",
];

/**
 * The SERVE_NODE_FLAGS that `given` (node's flags and NODE_OPTIONS) does not set either way: a flag's value given
 * (`--v8-pool-size=3`) or its other form (`--allocation-site-pretenuring`, V8's default) wins over serve's.
 */
export function missingServeFlags(given: readonly string[]): string[] {
  const name = (f: string) =>
    f
      .split("=")[0]
      .replace(/^--no-/, "--")
      .replaceAll("_", "-");
  return SERVE_NODE_FLAGS.filter((f) => !given.some((g) => name(g) === name(f)));
}

/** Set in the environment of the process image made by ensureServeNodeFlags (no second exec, whatever happens). */
const REEXEC_ENV = "WASMLET_SERVE_REEXEC";

/**
 * Makes sure this process runs with SERVE_NODE_FLAGS: when one is missing from its own flags and NODE_OPTIONS,
 * replaces the process in place (execv through the native addon: the same PID, so signals, `kill -9`, drains and
 * supervisors see one process, and no wrapper is left) with the same node, its flags plus the missing ones, and
 * the same arguments. Returns — and the server runs without them — when they are there, when the addon is not
 * built, or with WASMLET_NODE_FLAGS=off; `log` says why when the exec itself failed.
 */
export function ensureServeNodeFlags(log: (line: string) => void): void {
  if (process.env.WASMLET_NODE_FLAGS === "off" || process.env[REEXEC_ENV] === "1") return;
  const missing = missingServeFlags(nodeFlags());
  const execSelf = load()?.execSelf;
  if (missing.length === 0 || !execSelf) return;
  process.env[REEXEC_ENV] = "1";
  const err = execSelf(process.execPath, [
    process.execPath,
    ...process.execArgv,
    ...missing,
    ...process.argv.slice(1),
  ]);
  log(`wasmlet: running without ${missing.join(" ")}: exec failed (errno ${err})`);
}
