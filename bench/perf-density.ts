// Issue 5's density run: many functions deployed (each with its own route and its own digest), then a slice of
// them hit in rotation with wrk (bench/lua/rotate.lua): server RSS and p99.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { api, median, ROOT, rssBytes, startWasmlet, uniqueVariant, type Wasmlet } from "./procs.js";
import { fmt, printTable } from "./report.js";
import { wrk } from "./wrk.js";

const HELLO = readFileSync(join(ROOT, "examples/hello/hello.wasm"));
const ROTATE = join(ROOT, "bench/lua/rotate.lua");
const MiB = 1048576;

export interface DensityOptions {
  functions: number;
  hit: number;
  seconds: number;
  /** Deploying stops here (and says so) rather than blow the suite's time bound. */
  deployBudgetMs: number;
}

/** POST that tolerates a keep-alive socket closed under it: retried once; a 409 on the retry means it landed. */
async function post(controlUrl: string, path: string, body: unknown): Promise<void> {
  try {
    await api(controlUrl, "POST", path, body);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e; // fetch failed at the socket level
    await api(controlUrl, "POST", path, body).catch((e2: Error) => {
      if (!e2.message.includes(" 409 ")) throw e2;
    });
  }
}

async function pool(n: number, concurrency: number, f: (i: number) => Promise<void>, until = Infinity) {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n && performance.now() < until; i = next++) await f(i);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Math.min(next, n);
}

/**
 * Deploys up to `functions` hello functions `dn-0`, `dn-1`, … (distinct digests, one route `/dn-<i>` each) with 4
 * clients, stopping after `budgetMs`. Returns how many landed and the time at every 1,000th.
 */
export async function deployDensityFunctions(
  w: Pick<Wasmlet, "controlUrl">,
  functions: number,
  budgetMs: number,
): Promise<{ deployed: number; marks: number[] }> {
  const t0 = performance.now();
  let deployed = 0;
  /** Time at every 1,000th deployed function: shows whether deploying slows down as functions pile up. */
  const marks: number[] = [t0];
  await pool(
    functions,
    4,
    async (i) => {
      const name = `dn-${i}`;
      const code = Buffer.from(uniqueVariant(HELLO, `density-${i}`)).toString("base64");
      await post(w.controlUrl, "/functions", { name, code, fileName: "hello.wasm" });
      await post(w.controlUrl, "/triggers/http", { name, function: name, prefix: `/${name}` });
      deployed++;
      if (deployed % 1000 === 0) marks.push(performance.now());
    },
    t0 + budgetMs,
  );
  return { deployed, marks };
}

/** wrk over `hit` of the deployed density functions in rotation (every `stride`th), for `seconds`. */
export function rotateDensity(w: Pick<Wasmlet, "routerUrl">, hit: number, stride: number, seconds: number) {
  return wrk(`${w.routerUrl}/`, {
    seconds,
    script: ROTATE,
    scriptArgs: ["/dn-", String(hit), String(stride)],
  });
}

export async function benchDensity(opts: DensityOptions): Promise<void> {
  const w = await startWasmlet();
  try {
    const pid = w.proc.pid;
    const rssIdle = rssBytes(pid);
    const t0 = performance.now();
    const { deployed, marks } = await deployDensityFunctions(w, opts.functions, opts.deployBudgetMs);
    const deployS = (performance.now() - t0) / 1000;
    const rssDeployed = rssBytes(pid);
    const hit = Math.min(opts.hit, deployed);
    const stride = Math.max(1, Math.floor(deployed / hit));
    // First pass: every rotated function once, checking its answer (some may have left the prepared cache).
    const firstPass: number[] = [];
    await pool(hit, 8, async (k) => {
      const t = performance.now();
      const r = await fetch(`${w.routerUrl}/dn-${k * stride}/x`);
      const body = await r.text();
      firstPass.push(performance.now() - t);
      if (r.status !== 200 || !body.startsWith("hello\n"))
        throw new Error(`dn-${k * stride}: ${r.status} ${body}`);
    });
    // Two windows back to back. In the first, V8 is still tiering up the hit modules' hot functions (Liftoff ->
    // TurboFan, on its background threads, ~5 s of CPU over 10 s for 1,000 modules on this machine) and that
    // competes with the request thread for the two cores; the second is the steady state.
    const rotate = () => rotateDensity(w, hit, stride, opts.seconds);
    const tierUp = await rotate();
    const r = await rotate();
    const rssAfter = rssBytes(pid);
    const sorted = [...firstPass].sort((a, b) => a - b);
    printTable(
      `density: ${deployed} functions deployed (distinct digests: uniqueVariant of examples/hello/hello.wasm, command contract, one route each), ${hit} hit in rotation (every ${stride}th)`,
      [
        {
          "deploy time (s)": fmt(deployS),
          "ms per fn (4 clients)": fmt((deployS * 1000) / Math.max(1, deployed)),
          "RSS idle MiB": fmt(rssIdle / MiB, 0),
          "RSS deployed MiB": fmt(rssDeployed / MiB, 0),
          "RSS after rotation MiB": fmt(rssAfter / MiB, 0),
          "first pass median/p99 ms": `${fmt(median(firstPass))} / ${fmt(sorted[Math.floor(sorted.length * 0.99)])}`,
          [`first ${opts.seconds} s of rotation (tier-up) req/s, p99 ms`]: `${fmt(tierUp.rps)}, ${fmt(tierUp.p99ms)}`,
          [`next ${opts.seconds} s: rotation req/s`]: fmt(r.rps),
          "rotation p50 ms": fmt(r.p50ms),
          "rotation p99 ms": fmt(r.p99ms),
          errors: tierUp.errors + r.errors,
        },
      ],
    );
    const per1000 = marks.slice(1).map((m, k) => fmt((m - marks[k]) / 1000, 1));
    console.log(`deploy time per 1,000 functions, in order (s): ${per1000.join(", ")}`);
    console.log(
      "targets: RSS ≤ 2048 MiB with 10,000 functions; rotation p99 ≤ 20 ms (both windows are shown: the first includes wasm tier-up)",
    );
    if (deployed < opts.functions)
      console.log(
        `NOTE: deploying stopped at ${deployed} of ${opts.functions} functions after the ${opts.deployBudgetMs / 1000} s budget`,
      );
  } finally {
    await w.stop();
  }
}
