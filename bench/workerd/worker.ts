// Row W: an ES module worker for workerd that serves the WAGI echo on a fresh instance per request, with
// wasmlet's own WASI host and WAGI contract. Bundled by esbuild (bench/workerd/workerd.ts); node: imports of
// the WASI host are left to workerd's nodejs_compat.

import { WasiHost } from "../../src/runtime/wasi/index.js";
import echo from "./echo.wasm";
import { echoRoute, runFresh } from "./fresh-run.js";

const host = new WasiHost();

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : new Uint8Array(0);
    const query = url.search.slice(1);
    try {
      const r = runFresh(echo, host, {
        method: request.method,
        url: url.pathname + url.search,
        path: url.pathname,
        query,
        headers,
        body,
        remoteAddr: headers["cf-connecting-ip"] ?? "127.0.0.1",
        remotePort: 0,
        serverName: url.hostname,
        serverPort: Number(url.port || 80),
        protocol: "HTTP/1.1",
        route: echoRoute(url.pathname),
      });
      return new Response(r.body as Uint8Array<ArrayBuffer>, { status: r.status, headers: r.headers });
    } catch (e) {
      return new Response(`worker error: ${e instanceof Error ? e.stack : String(e)}\n`, { status: 500 });
    }
  },
};
