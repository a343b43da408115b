// Helpers shared by this folder's tests (not exported from index.ts).
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegistryServer, type RegistryServerOptions } from "./server.js";

/** A valid, empty wasm module, with a custom section so that each `tag` gives different bytes. */
export function tinyWasm(tag = ""): Uint8Array {
  const name = Buffer.from("wasmlet");
  const payload = Buffer.from(tag);
  const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
  if (body.length > 127) throw new Error("tinyWasm: tag too long for a one-byte LEB128 size");
  return new Uint8Array(
    Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, body.length]), body]),
  );
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>`, as used in image references. */
  host: string;
  url: string;
  root: string;
  registry: RegistryServer;
  server: Server;
  close(): Promise<void>;
}

/** Starts the embedded registry in a real HTTP server on an ephemeral loopback port, data in a temp dir. */
export async function startRegistry(
  opts: Partial<RegistryServerOptions> = {},
  wrap?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void,
): Promise<RunningRegistry> {
  const root = await mkdtemp(join(tmpdir(), "wasmlet-registry-"));
  const registry = new RegistryServer({ root, sweepIntervalMs: 0, ...opts });
  const server = createServer((req, res) => {
    const next = () => {
      if (!registry.handle(req, res)) {
        res.writeHead(404);
        res.end("not a registry path");
      }
    };
    if (wrap) wrap(req, res, next);
    else next();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    root,
    registry,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await registry.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
