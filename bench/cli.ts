// CLI start-up: how long a command takes next to a bare `node -e 0`, measured in the same run (medians of
// several interleaved runs). A command should load the typed client and nothing of the server.
import { spawnSync } from "node:child_process";
import { BIN, startServer } from "../test/e2e/harness.js";
import { median } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";

function timeOnce(args: string[], env: NodeJS.ProcessEnv): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

export async function benchCli(opts: { runs?: number } = {}): Promise<void> {
  const runs = opts.runs ?? 5;
  const server = await startServer();
  const env = { ...process.env, WASMLET_SERVER: server.controlUrl };
  const cases = [
    { name: "node -e 0 (baseline)", args: ["-e", "0"] },
    { name: "wasmlet --help", args: [BIN, "--help"], target: 1.6 },
    { name: "wasmlet fn list", args: [BIN, "fn", "list"], target: 2 },
    { name: "wasmlet route list", args: [BIN, "route", "list"], target: 2 },
  ];
  const times = cases.map(() => [] as number[]);
  try {
    for (const c of cases) timeOnce(c.args, env); // warm the page cache once
    for (let i = 0; i < runs; i++) for (const [j, c] of cases.entries()) times[j].push(timeOnce(c.args, env));
  } finally {
    await server.stop();
  }
  const base = median(times[0]);
  const rows: Row[] = cases.map((c, j) => ({
    command: c.name,
    "median ms": fmt(median(times[j])),
    "× node": fmt(median(times[j]) / base),
    target: c.target ? `≤ ${c.target}×` : "",
  }));
  printTable(`cli start-up (median of ${runs}, interleaved)`, rows);
}
