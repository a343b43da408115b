import { spawn } from "node:child_process";

/** What a build keeps of a process's output: enough for a log, never unbounded. */
const MAX_KEPT_OUTPUT = 256 * 1024;

export interface ProcessResult {
  /** Exit status, or null when the process was killed by a signal. */
  code: number | null;
  /** stdout and stderr interleaved as they arrived, bounded to the last MAX_KEPT_OUTPUT bytes. */
  output: string;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the executable could not be started (ENOENT, EACCES). */
  spawnError?: NodeJS.ErrnoException;
}

export interface ProcessOptions {
  cwd: string;
  env: Record<string, string>;
  /** Deadline after which the whole process group is killed. */
  deadline: number;
  signal?: AbortSignal;
}

/**
 * Runs one executable (never through a shell unless the caller passes `sh -c` itself) in its own process
 * group, so that a timeout or abort kills the compiler and everything it started (make → cc → ld).
 */
export function runProcess(
  file: string,
  args: readonly string[],
  opts: ProcessOptions,
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = [];
    let kept = 0;
    let timedOut = false;
    let aborted = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    const keep = (b: Buffer): void => {
      chunks.push(b);
      kept += b.length;
      if (kept > 2 * MAX_KEPT_OUTPUT) {
        const all = Buffer.concat(chunks).subarray(-MAX_KEPT_OUTPUT);
        chunks = [all];
        kept = all.length;
      }
    };
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is already gone
      }
    };
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup();
      },
      Math.max(0, opts.deadline - Date.now()),
    );
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (e) => {
      spawnError = e;
    });
    // "close" waits for the pipes; a grandchild that escaped the group could hold them open, so a killed
    // build also settles on "exit" after a short grace period.
    let settled = false;
    const finish = (code: number | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      const output = Buffer.concat(chunks).subarray(-MAX_KEPT_OUTPUT).toString("utf8");
      resolve({ code, output, timedOut, aborted, spawnError });
    };
    child.on("close", (code) => finish(code));
    child.on("exit", (code) => {
      if (timedOut || aborted) setTimeout(() => finish(code), 200).unref();
    });
    if (opts.signal?.aborted) onAbort();
  });
}
