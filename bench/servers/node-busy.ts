// The latency controls for X: a plain Node server that spends a set time per request and answers a fixed body,
// tuned by the bench so that its peak matches X's. Its p99 at 80 % of its own peak, measured in the same run,
// is what this machine and node's event loop give a server of that throughput.
// Usage: node node-busy.js <work|wait> <µs> <body as base64>
//   work: a fixed amount of CPU work per request (iterations calibrated at start to take <µs> on an idle core).
//         Like X's own work, it takes longer when the core is shared, preempted or its caches are cold.
//   wait: spins until <µs> of wall time have passed. Time lost to preemption or a slower core is absorbed by
//         the wait, so this control is optimistic: it shows how much of a tail comes from that lost time.
// A 4th argument N: N processes share the port through node:cluster, as `serve --workers N` does (the control
// for X2).
import cluster from "node:cluster";
import { createServer } from "node:http";

const mode = process.argv[2];
if (mode !== "work" && mode !== "wait")
  throw new Error("usage: node-busy.js <work|wait> <µs> <body as base64>");
const busyUs = Number(process.argv[3] ?? 0);
const body = Buffer.from(process.argv[4] ?? "", "base64").toString("latin1");
const length = String(Buffer.byteLength(body, "latin1"));

let sink = 0;
function work(iterations: number): void {
  let x = sink;
  for (let i = 0; i < iterations; i++) x = (x * 31 + i) | 0;
  sink = x;
}
function wait(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}
/** Iterations of `work` per µs: the best of 20 timed runs after a warm-up (JIT), so a noisy moment is skipped. */
function calibrate(): number {
  const n = 1_000_000;
  work(n);
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k < 20; k++) {
    const t = performance.now();
    work(n);
    best = Math.min(best, performance.now() - t);
  }
  return n / (best * 1000);
}
const iterations = mode === "work" ? Math.round(calibrate() * busyUs) : 0;

const processes = Number(process.argv[5] ?? 1);
if (processes > 1 && cluster.isPrimary) {
  // Workers calibrate themselves; the first to listen reports the shared port once all listen.
  let listening = 0;
  let port = 0;
  for (let i = 0; i < processes; i++) cluster.fork();
  cluster.on("message", (_w, m: { port: number }) => {
    port = m.port;
    if (++listening === processes) console.log(`listening http://127.0.0.1:${port}`);
  });
} else serve();

function serve(): void {
  const server = createServer((req, res) => {
    req.resume();
    if (mode === "work") work(iterations);
    else wait(busyUs);
    res.writeHead(200, { "content-type": "text/plain", "content-length": length });
    res.end(body, "latin1");
  });
  server.keepAliveTimeout = 65_000;
  // In a cluster every worker's listen(0) gets the same port (the primary owns the socket).
  server.listen(0, "127.0.0.1", () => {
    const a = server.address() as { port: number };
    if (cluster.isWorker) process.send?.({ port: a.port });
    else console.log(`listening http://127.0.0.1:${a.port}`);
  });
}
