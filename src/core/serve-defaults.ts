// Defaults of `wasmlet serve` that the CLI shows in its help: here, so that the CLI does not load the server.

/** Spin window of `serve` when a core is left over for everything else (see defaultBusyPollUs). */
export const DEFAULT_BUSY_POLL_US = 200;
/** Longest window `--busy-poll-us` accepts: beyond a few ms, spinning only burns CPU. */
export const MAX_BUSY_POLL_US = 10_000;
/**
 * Nice value `serve` gives V8's threads unless told (`--helper-nice`; see lowerV8Threads in
 * runtime/thread-priority.ts): 0, left as they are. Lowered, they yield to the request thread — but the request
 * thread also waits for them (a collection's parallel phases, a compile it joins), and when other processes keep the
 * cores busy it waited 105–220 ms for them at nice 19 and 123–132 ms at nice 10 (test/e2e/isolation.test.ts beside
 * two or three busy loops; none at 0).
 */
export const DEFAULT_HELPER_NICE = 0;

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

/** `serve --drain-timeout`: under Kubernetes' default 30 s grace period, so a pod drains before it is killed. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;
/** What a `wasmlet serve` node runs (`--role`): everything, the control plane only, or the public router only. */
export const SERVE_ROLES = ["all", "control", "router"] as const;
export type ServeRole = (typeof SERVE_ROLES)[number];
