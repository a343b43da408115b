import { createServer, type RequestListener, type Server } from "node:http";

/** How long and how many connections a listener keeps: what bounds slow and idle clients. */
export interface HttpLimits {
  /** Time a client has to send a request's headers (slowloris). */
  headersTimeoutMs: number;
  /** Time a client has to send a whole request, headers and body. */
  requestTimeoutMs: number;
  /** Idle time a kept-alive connection is held between requests. */
  keepAliveTimeoutMs: number;
  /** Most open connections; past it, new ones are closed at once. */
  maxConnections: number;
  /** Most bytes of response bodies held for slow clients across all requests (router only); 503 past it. */
  outputBufferBytes: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  // Longer than the 60 s idle timeout of common load balancers, so that they, not we, close idle connections
  // (a close racing a request they forward would fail it).
  keepAliveTimeoutMs: 65_000,
  maxConnections: 10_000,
  outputBufferBytes: 256 * 1024 * 1024,
});

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
