// The latency control for X: a plain Node server that spends a fixed CPU time per request (a busy wait) and
// answers a fixed body, tuned by the bench so that its peak matches X's. Its p99 at 80 % of its own peak,
// measured in the same run, is what this machine and node's event loop give any server of that throughput.
// Usage: node node-busy.js <busy µs> <body as base64>
import { createServer } from "node:http";

const busyMs = Number(process.argv[2] ?? 0) / 1000;
const body = Buffer.from(process.argv[3] ?? "", "base64").toString("latin1");
const length = String(Buffer.byteLength(body, "latin1"));

const server = createServer((req, res) => {
  req.resume();
  const until = performance.now() + busyMs;
  while (performance.now() < until);
  res.writeHead(200, { "content-type": "text/plain", "content-length": length });
  res.end(body, "latin1");
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const a = server.address() as { port: number };
  console.log(`listening http://127.0.0.1:${a.port}`);
});
