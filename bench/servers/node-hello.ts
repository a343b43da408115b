// Baseline A: the ceiling of a Node HTTP server on this machine — a plain "hello" answer.
import { createServer } from "node:http";

const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": "6" });
  res.end("hello\n");
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address() as { port: number };
  console.log(`listening http://127.0.0.1:${a.port}`);
});
