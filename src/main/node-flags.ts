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
 */
export const SERVE_NODE_FLAGS = ["--min-semi-space-size=16"];

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
  const given = nodeFlags();
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
