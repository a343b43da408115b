import { type ApiClient, type PackageRecord, packSource } from "../client/index.js";
import { WasmletError } from "../core/index.js";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const POLL_MS = 200;
/** How long the CLI waits for a build (queue time included) before giving up. */
export const BUILD_WAIT_MS = 10 * 60 * 1000;

/** The archive `--src` makes (tar+gzip of a file, or of a directory's contents) and the name it came from. */
export async function sourceArchive(
  path: string,
): Promise<{ archive: string; fileName: string; paths: string[] }> {
  const { bytes, fileName, paths } = await packSource(path, "--src");
  return { archive: Buffer.from(bytes).toString("base64"), fileName, paths };
}

/**
 * Waits until the package's build (generation `generation` or later) ends. On a terminal a spinner shows the
 * status and elapsed time; otherwise one line per status change. Resolves with the finished package.
 */
export async function waitForBuild(
  client: ApiClient,
  name: string,
  generation: number,
): Promise<PackageRecord> {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let last = "";
  let frame = 0;
  try {
    for (;;) {
      const p = await client.getPackage(name);
      const finished = p.generation >= generation && (p.status === "succeeded" || p.status === "failed");
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (tty) {
        if (!finished)
          process.stderr.write(
            `\r${SPINNER[frame++ % SPINNER.length]} building ${name} (${p.builder}): ${p.status} ${secs}s\u001b[K`,
          );
      } else if (p.status !== last && !finished) {
        process.stderr.write(`package ${name}: ${p.status}\n`);
      }
      last = p.status;
      if (finished) return p;
      if (Date.now() - started > BUILD_WAIT_MS)
        throw new WasmletError(
          "UNAVAILABLE",
          `package "${name}" is still ${p.status} after ${secs}s; check later with: wasmlet pkg info --name ${name}`,
        );
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    if (tty) process.stderr.write("\r\u001b[K");
  }
}

/** Prints a failed build's log (the compiler's own messages) to stderr and marks the command failed. */
export function reportFailure(p: PackageRecord): void {
  process.stderr.write(`error: build of package "${p.name}" failed:\n${p.buildLog.trimEnd()}\n`);
  process.exitCode = 1;
}

/** Waits (bounded) until function `fn` runs `digest`: the server binds a build to its functions right after. */
export async function waitForFunction(client: ApiClient, fn: string, digest: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const f = await client.getFunction(fn).catch((e) => {
      if (e instanceof WasmletError && e.code === "NOT_FOUND") return undefined;
      throw e;
    });
    if (f?.current.digest === digest) return;
    if (Date.now() > deadline)
      throw new WasmletError("UNAVAILABLE", `function "${fn}" did not pick up the build ${digest} in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
