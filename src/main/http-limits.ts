import { createServer, type RequestListener, type Server } from "node:http";
import type { HttpLimits } from "../core/index.js";

/** How often node checks the header and request timeouts; its default (30 s) let a slow client stay 72 s. */
const TIMEOUT_CHECK_MS = 1000;

/** An HTTP server bounded by `limits`. */
export function createBoundedServer(limits: HttpLimits, listener: RequestListener): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    listener,
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  return server;
}
