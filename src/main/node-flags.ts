import { load } from "./malloc-tune.js";

/**
 * V8 flags `wasmlet serve` runs with. `--max-semi-space-size=64` (MiB; Node 20's default lets the young
 * generation grow to 16): at ~20k requests/s per-request garbage outlived two scavenges often enough to fill the
 * old generation, and a mark-compact paused the request thread 4–9 ms 2–4 times in each 8 s window. An open-loop
 * client at 80 % of the peak then saw p99 9.3 / 28.0 / 3.7 / 12.2 ms (the one run under 5 ms had no mark-compact);
 * with the flag, no mark-compact in the window and p99 4.6 / 3.8 / 4.1 / 10.9 ms, the peak unchanged within noise
 * (23.0–25.1k vs 23.0–26.4k req/s; /tmp/gc-ab.sh, alternated, this machine). V8 reads it when the heap is set up,
 * so it cannot be set from inside (v8.setFlagsFromString has no effect then).
 */
export const SERVE_NODE_FLAGS = ["--max-semi-space-size=64"];

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
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  const missing = SERVE_NODE_FLAGS.filter((f) => !given.some((g) => g.startsWith(f.split("=")[0])));
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
