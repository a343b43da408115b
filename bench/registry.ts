// Registry benchmark: push and pull of a 30 KB and a 10 MB module into wasmlet's embedded registry (a real
// `wasmlet serve` process) and into Debian's docker-registry, started side by side in the same run, through the
// same client. Each figure is the median of several runs; every push uploads a module never seen before.
import { randomBytes } from "node:crypto";
import { buildImage, type ImageBundle, RegistryClient } from "../src/registry/index.js";
import { hasDockerRegistry, startDockerRegistry } from "../test/e2e/docker-registry.js";
import { startServer } from "../test/e2e/harness.js";
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
    { name: "wasmlet", host: wasmlet.controlUrl.replace("http://", "") },
    { name: "docker-registry", host: docker.host },
  ];
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
      const times: Record<string, { push: number[]; pull: number[] }> = {};
      for (const t of targets) times[t.name] = { push: [], pull: [] };
      // Interleaved, run by run, so both registries see the same machine state; run 0 warms up and is dropped.
      for (let i = 0; i <= runs; i++) {
        for (const t of targets) {
          const ref = `${t.host}/bench/m${size.bytes}:r${i}`;
          const push = await timed(() => client.push(ref, bundles[i]));
          const pull = await timed(() => new RegistryClient().pull(ref));
          if (i > 0) {
            times[t.name].push.push(push);
            times[t.name].pull.push(pull);
          }
        }
      }
      for (const op of ["push", "pull"] as const) {
        const w = median(times.wasmlet[op]);
        const d = median(times["docker-registry"][op]);
        rows.push({
          module: size.label,
          op,
          "wasmlet ms": fmt(w),
          "docker-registry ms": fmt(d),
          "wasmlet/docker-registry": fmt(w / d),
        });
      }
    }
  } finally {
    await Promise.all([wasmlet.stop(), docker.stop()]);
  }
  printTable(`registry: push and pull, median of ${runs} runs (lower ratio = wasmlet faster)`, rows);
}
