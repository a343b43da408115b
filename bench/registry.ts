// Registry benchmark: push and pull of a 30 KB and a 10 MB module into wasmlet's embedded registry (a real
// `wasmlet serve` process) and into Debian's docker-registry, started side by side in the same run, through the
// same client. Each figure is the median of several runs; every push uploads a module never seen before. The
// machine is shared, so wall times are noisy: the ratio is the median of per-run pairs, with their range, and the
// CPU time each registry's process spent is shown beside them.
import { randomBytes } from "node:crypto";
import { buildImage, type ImageBundle, RegistryClient } from "../src/registry/index.js";
import { hasDockerRegistry, startDockerRegistry } from "../test/e2e/docker-registry.js";
import { startServer } from "../test/e2e/harness.js";
import { processCpuMs } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";

const SIZES = [
  { label: "30 KB", bytes: 30 * 1024 },
  { label: "10 MB", bytes: 10 * 1024 * 1024 },
];

/** A wasm-looking module of `size` bytes: the magic and version, then random bytes (a custom section's worth). */
function module(size: number): Uint8Array {
  const m = new Uint8Array(randomBytes(size));
  m.set([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export async function benchRegistry(opts: { runs?: number } = {}): Promise<void> {
  const runs = opts.runs ?? 7;
  if (!hasDockerRegistry()) {
    console.log(
      "\n## registry\n\nskipped: /usr/bin/docker-registry is not installed (apt-get install docker-registry)",
    );
    return;
  }
  const [wasmlet, docker] = await Promise.all([startServer(), startDockerRegistry()]);
  const client = new RegistryClient();
  const targets = [
    { name: "wasmlet", host: wasmlet.controlUrl.replace("http://", ""), pid: wasmlet.proc.pid },
    { name: "docker-registry", host: docker.host, pid: docker.pid },
  ];
  /** One op on one registry: its wall time and the CPU time the registry's process spent on it. */
  const measure = async (pid: number | undefined, fn: () => Promise<unknown>) => {
    const cpu = processCpuMs(pid);
    const ms = await timed(fn);
    return { ms, cpu: processCpuMs(pid) - cpu };
  };
  const rows: Row[] = [];
  try {
    for (const size of SIZES) {
      // wasm-artifact: the layer is the module itself, so the figures are the registry's, not gzip's.
      const bundles: ImageBundle[] = [];
      for (let i = 0; i < runs + 1; i++)
        bundles.push(
          await buildImage({
            files: new Map([["/m.wasm", module(size.bytes)]]),
            entry: "/m.wasm",
            format: "wasm-artifact",
          }),
        );
      type Times = Record<"push" | "pull", { ms: number; cpu: number }[]>;
      const times: Record<string, Times> = {};
      for (const t of targets) times[t.name] = { push: [], pull: [] };
      // Interleaved, run by run and in turns (who goes first alternates), so both registries see the same
      // machine state; run 0 warms up and is dropped.
      for (let i = 0; i <= runs; i++) {
        for (const t of i % 2 ? [...targets].reverse() : targets) {
          const ref = `${t.host}/bench/m${size.bytes}:r${i}`;
          const push = await measure(t.pid, () => client.push(ref, bundles[i]));
          const pull = await measure(t.pid, () => new RegistryClient().pull(ref));
          if (i > 0) {
            times[t.name].push.push(push);
            times[t.name].pull.push(pull);
          }
        }
      }
      for (const op of ["push", "pull"] as const) {
        const w = times.wasmlet[op];
        const d = times["docker-registry"][op];
        // Each run is a pair (same module size, same moment): the ratio of each pair, then their median and range.
        const pairs = w.map((x, i) => x.ms / d[i].ms);
        rows.push({
          module: size.label,
          op,
          "wasmlet ms": fmt(median(w.map((x) => x.ms))),
          "docker-registry ms": fmt(median(d.map((x) => x.ms))),
          "wasmlet/docker-registry": fmt(median(pairs)),
          "pair range": `${fmt(Math.min(...pairs))}–${fmt(Math.max(...pairs))}`,
          "server CPU ms wasmlet": fmt(median(w.map((x) => x.cpu))),
          "server CPU ms docker-registry": fmt(median(d.map((x) => x.cpu))),
        });
      }
    }
  } finally {
    await Promise.all([wasmlet.stop(), docker.stop()]);
  }
  printTable(
    `registry: push and pull, median of ${runs} interleaved pairs (lower ratio = wasmlet faster; server CPU: all threads of the registry's process)`,
    rows,
  );
}
