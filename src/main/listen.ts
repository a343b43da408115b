import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WasmletError } from "../core/index.js";
import { formatHostPort, type HostPort } from "./address.js";

/** Listens, resolving to the address actually bound (port 0 = ephemeral); an address in use is a clear error. */
export function listen(server: Server, at: HostPort): Promise<HostPort> {
  return new Promise((resolveListen, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new WasmletError(
          "UNAVAILABLE",
          e.code === "EADDRINUSE"
            ? `cannot listen on ${formatHostPort(at)}: the address is in use (is another wasmlet running? choose another with --listen/--control)`
            : `cannot listen on ${formatHostPort(at)}: ${e.message}`,
        ),
      ),
    );
    server.listen(at.port, at.host, () => {
      const a = server.address() as AddressInfo;
      resolveListen({ host: at.host, port: a.port });
    });
  });
}
