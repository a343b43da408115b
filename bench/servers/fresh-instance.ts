// Row B: a bare Node server that creates a FRESH instance of a WAGI module per request with wasmlet's WASI host
// and WAGI contract — what workerd does in row W, without workerd. Usage: node fresh-instance.js <module.wasm>
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { WasiHost } from "../../src/runtime/wasi/index.js";
import { echoRoute, runFresh } from "../workerd/fresh-run.js";

const module = new WebAssembly.Module(readFileSync(process.argv[2]));
const host = new WasiHost();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers[req.rawHeaders[i].toLowerCase()] = req.rawHeaders[i + 1];
    try {
      const r = runFresh(module, host, {
        method: req.method ?? "GET",
        url,
        path,
        query: q < 0 ? "" : url.slice(q + 1),
        headers,
        body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
        remoteAddr: req.socket.remoteAddress ?? "",
        remotePort: req.socket.remotePort ?? 0,
        serverName: req.socket.localAddress ?? "localhost",
        serverPort: req.socket.localPort ?? 0,
        protocol: `HTTP/${req.httpVersion}`,
        route: echoRoute(path),
      });
      res.writeHead(r.status, [...r.headers.flat(), "content-length", String(r.body.byteLength)]);
      res.end(r.body);
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`error: ${e instanceof Error ? e.message : e}\n`);
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address() as { port: number };
  console.log(`listening http://127.0.0.1:${a.port}`);
});
