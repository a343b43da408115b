// wasi:cli, wasi:clocks and wasi:random for transpiled components: arguments, environment, stdio, exit, clocks
// and randomness, all from the run's Invocation.
import { randomFillSync } from "node:crypto";
import { currentInvocation as inv } from "./host-http.js";
import { InputStream, OutputStream, Pollable } from "./host-io.js";
import { ExitSignal } from "./invocation.js";

class TerminalInput {}
class TerminalOutput {}

/** Longest random buffer handed out at once (the guest asks with a u64). */
const MAX_RANDOM_BYTES = 1 << 20;

function randomBytes(len: bigint): Uint8Array {
  const n = Number(len);
  if (n > MAX_RANDOM_BYTES)
    throw new RangeError(`get-random-bytes(${n}): at most ${MAX_RANDOM_BYTES} at once`);
  return randomFillSync(new Uint8Array(n));
}

function randomU64(): bigint {
  const b = randomFillSync(new BigUint64Array(1));
  return b[0];
}

/** Nanoseconds since the time origin: the monotonic clock. */
function monotonicNow(): bigint {
  return BigInt(Math.round(performance.now() * 1e6));
}

/** The wasi:cli, wasi:clocks and wasi:random imports; every call acts on the run in progress. */
export function cliImports(): Record<string, object> {
  return {
    "wasi:cli/environment": {
      getEnvironment: () => inv().env,
      getArguments: () => inv().args,
      initialCwd: () => "/",
    },
    "wasi:cli/exit": {
      exit: (status: { tag: "ok" | "err" }) => {
        throw new ExitSignal(status.tag === "ok" ? 0 : 1);
      },
      exitWithCode: (code: number) => {
        throw new ExitSignal(code);
      },
    },
    "wasi:cli/stdin": {
      getStdin: () => {
        const run = inv();
        run.stdinStream ??= new InputStream(run, run.stdin);
        return run.stdinStream;
      },
    },
    "wasi:cli/stdout": {
      getStdout: () => {
        const run = inv();
        return new OutputStream(run, (b) => run.stdout.push(b));
      },
    },
    "wasi:cli/stderr": {
      getStderr: () => {
        const run = inv();
        return new OutputStream(run, (b) => run.stderr.push(b));
      },
    },
    "wasi:cli/terminal-input": { TerminalInput },
    "wasi:cli/terminal-output": { TerminalOutput },
    "wasi:cli/terminal-stdin": { getTerminalStdin: () => undefined },
    "wasi:cli/terminal-stdout": { getTerminalStdout: () => undefined },
    "wasi:cli/terminal-stderr": { getTerminalStderr: () => undefined },
    "wasi:clocks/monotonic-clock": {
      now: monotonicNow,
      resolution: () => 1000n,
      subscribeInstant: (at: bigint) => new Pollable(inv(), () => false, Number(at) / 1e6),
      subscribeDuration: (ns: bigint) =>
        new Pollable(inv(), () => false, performance.now() + Number(ns) / 1e6),
    },
    "wasi:clocks/wall-clock": {
      now: () => {
        const ms = Date.now();
        return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1e6 };
      },
      resolution: () => ({ seconds: 0n, nanoseconds: 1e6 }),
    },
    "wasi:random/random": { getRandomBytes: randomBytes, getRandomU64: randomU64 },
    "wasi:random/insecure": { getInsecureRandomBytes: randomBytes, getInsecureRandomU64: randomU64 },
    "wasi:random/insecure-seed": { insecureSeed: () => [randomU64(), randomU64()] },
  };
}
