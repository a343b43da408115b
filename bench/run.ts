// `npm run bench`: every hot path's benchmark, with baselines measured in the same run and shown as ratios.
import { cpus } from "node:os";
import { benchCore } from "./core.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
console.log(
  `# wasmlet benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}`,
);
await benchCore({ seconds });
