import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import {
  DEFAULT_BUSY_POLL_US,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_HELPER_NICE,
  DEFAULT_HTTP_LIMITS,
  MAX_BUSY_POLL_US,
  SERVE_ROLES,
  type ServeRole,
  WasmletError,
} from "../core/index.js";
import { NOUN_HELP } from "./nouns.js";
import { readRegistryAuth, readRegistryCredentials } from "./registry.js";

function seconds(value: string): number {
  if (!/^\d+$/.test(value))
    throw new WasmletError("INVALID_ARGUMENT", `"${value}" is not a whole number of seconds`);
  return Number(value) * 1000;
}

function wholeNumber(flag: string, min: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value)))
      throw new WasmletError("INVALID_ARGUMENT", `${flag}: "${value}" is not a whole number >= ${min}`);
    return Number(value);
  };
}

function positiveSeconds(flag: string): (value: string) => number {
  const n = wholeNumber(flag, 1);
  return (value) => n(value) * 1000;
}

/**
 * `wasmlet serve`: everything on one machine, with embedded defaults. The platform is imported when the
 * command runs, so the other commands start without loading it.
 */
export function registerServe(program: Command): void {
  program
    .command("serve")
    .description(NOUN_HELP.serve)
    .option("--data-dir <dir>", "where state (SQLite) and the registry live", ".wasmlet")
    .option("--listen <host:port>", "public port: the router", "127.0.0.1:8080")
    .option("--control <host:port>", "control port: API + OCI registry (/v2)", "127.0.0.1:8081")
    .option(
      "--token-file <file>",
      "bearer token required on the control port (needed when it is not loopback)",
    )
    .option(
      "--secret-key-file <file>",
      "the key secrets are encrypted with (32 bytes: raw, 64 hex digits or base64; mode 0600); default: <data-dir>/secret.key, created on first use",
    )
    .option(
      "--registry-auth <file>",
      'credentials for other registries: JSON {"host:port": {"username","password"} | {"token"}}',
    )
    .option(
      "--public-registry <host:port>",
      "address the cluster pulls function images from: the embedded registry's (images are named by it; e.g. a Kubernetes Service when --control is 0.0.0.0), or --registry's host as nodes reach it (fn manifest) (default: the control address, or --registry's host)",
    )
    .option(
      "--advertise-address <host>",
      "host the other nodes reach this one at, with its ports (etcd node list; default: the --control/--listen host, or for 0.0.0.0 this machine's first non-internal IPv4)",
    )
    .addOption(
      new Option("--gc-interval <seconds>", "registry garbage collection period (0: off)")
        .argParser(seconds)
        .default(600_000, "600"),
    )
    .addOption(
      new Option("--gc-grace <seconds>", "unreferenced blobs younger than this survive gc")
        .argParser(seconds)
        .default(3_600_000, "3600"),
    )
    .addOption(
      new Option("--header-timeout <seconds>", "time a client has to send a request's headers")
        .argParser(positiveSeconds("--header-timeout"))
        .default(DEFAULT_HTTP_LIMITS.headersTimeoutMs, String(DEFAULT_HTTP_LIMITS.headersTimeoutMs / 1000)),
    )
    .addOption(
      new Option(
        "--request-timeout <seconds>",
        "time a client has to send a whole request (headers and body)",
      )
        .argParser(positiveSeconds("--request-timeout"))
        .default(DEFAULT_HTTP_LIMITS.requestTimeoutMs, String(DEFAULT_HTTP_LIMITS.requestTimeoutMs / 1000)),
    )
    .addOption(
      new Option("--keepalive-timeout <seconds>", "idle time a kept-alive connection is held")
        .argParser(positiveSeconds("--keepalive-timeout"))
        .default(
          DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs,
          String(DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs / 1000),
        ),
    )
    .addOption(
      new Option("--max-connections <n>", "most open connections per listener; more are closed at once")
        .argParser(wholeNumber("--max-connections", 1))
        .default(DEFAULT_HTTP_LIMITS.maxConnections),
    )
    .addOption(
      new Option(
        "--output-buffer <MiB>",
        "most MiB of response bodies held for slow clients across all requests (503 past it)",
      )
        .argParser((v: string) => wholeNumber("--output-buffer", 1)(v) * 1024 * 1024)
        .default(
          DEFAULT_HTTP_LIMITS.outputBufferBytes,
          String(DEFAULT_HTTP_LIMITS.outputBufferBytes / 1048576),
        ),
    )
    .option(
      "--workers <n>",
      "router processes sharing the public port (1: the router runs in the serve process)",
      (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 64)
          throw new WasmletError("INVALID_ARGUMENT", `--workers: "${v}" is not a number from 1 to 64`);
        return n;
      },
      1,
    )
    .option(
      "--busy-poll-us <µs>",
      `keep the request thread awake this long after a request while traffic is steady (0: off; default ${DEFAULT_BUSY_POLL_US} when a core is left beside the routers, else 0)`,
      (v: string) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > MAX_BUSY_POLL_US)
          throw new WasmletError(
            "INVALID_ARGUMENT",
            `--busy-poll-us: "${v}" is not a whole number of microseconds from 0 to ${MAX_BUSY_POLL_US}`,
          );
        return n;
      },
    )
    .addOption(
      new Option(
        "--cpu-affinity <mode>",
        "auto: each router's request thread alone on a CPU of its own, the other threads on the rest (for machines whose scheduler packs threads onto few CPUs); off: the scheduler places them",
      )
        .choices(["auto", "off"])
        .default("off"),
    )
    .option(
      "--busy-poll-yield <percent>",
      "stop a spin when the request thread waited for its CPU more than this share of the time (1-100; default: never — measured here, yielding made the tail worse)",
      (v: string) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 100)
          throw new WasmletError(
            "INVALID_ARGUMENT",
            `--busy-poll-yield: "${v}" is not a whole percentage from 1 to 100`,
          );
        return n;
      },
    )
    .option(
      "--request-slice-us <µs>",
      "the request threads' scheduler slice (Linux 6.12+ EEVDF; 100-100000; default 0: the kernel's): a waking request thread preempts sooner — measured here, it did not shorten the tail",
      (v: string) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || (n !== 0 && (n < 100 || n > 100_000)))
          throw new WasmletError(
            "INVALID_ARGUMENT",
            `--request-slice-us: "${v}" is not 0 or a whole number of microseconds from 100 to 100000`,
          );
        return n;
      },
    )
    .option(
      "--helper-nice <n>",
      `nice value (0-19) for V8's own threads — its background compiles of hot wasm code, GC helpers — so they yield to the request threads; helps right after mass deploys when the server's own load is what keeps the cores busy, hurts when other processes do (default ${DEFAULT_HELPER_NICE}: leave them as they are)`,
      (v: string) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 19)
          throw new WasmletError(
            "INVALID_ARGUMENT",
            `--helper-nice: "${v}" is not a whole number from 0 to 19`,
          );
        return n;
      },
      DEFAULT_HELPER_NICE,
    )
    .option("--no-metrics", "do not count invocations and do not serve /metrics on the control port")
    .option(
      "--otlp <url>",
      "export a span per invocation over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318",
      (v: string) => {
        try {
          const u = new URL(v);
          if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
        } catch {
          throw new WasmletError("INVALID_ARGUMENT", `--otlp: "${v}" is not an http(s) URL`);
        }
        return v;
      },
    )
    .option(
      "--nats <url>",
      "NATS server with JetStream for message queue triggers (nats://host:4222; nats://user:pass@host or nats://token@host also work)",
    )
    .addOption(new Option("--nats-user <user>", "NATS user name").env("WASMLET_NATS_USER"))
    .addOption(
      new Option("--nats-password <password>", "NATS password (better: the environment variable)").env(
        "WASMLET_NATS_PASSWORD",
      ),
    )
    .addOption(
      new Option("--nats-token <token>", "NATS token (better: the environment variable)").env(
        "WASMLET_NATS_TOKEN",
      ),
    )
    .addOption(
      new Option(
        "--drain-timeout <seconds>",
        "on SIGTERM/SIGINT, how long requests in flight get to finish before the process exits (a second signal: at once)",
      )
        .argParser(seconds)
        .default(DEFAULT_DRAIN_TIMEOUT_MS, String(DEFAULT_DRAIN_TIMEOUT_MS / 1000)),
    )
    .option(
      "--store <url>",
      "state store: sqlite (under --data-dir) or etcd://[user:password@]host:port[,host:port…][/prefix] (each node then keeps its invocation records, logs and async invocations under its --data-dir; the API gathers them from every node's --control address with the --token-file token)",
      "sqlite",
    )
    .option(
      "--registry <url>",
      "[http(s)://]host[:port][/prefix]: control and all nodes push every function image there (an external registry; the embedded one is then off); router nodes pull from it, with the --registry-* credentials or else this node's token (the control plane's embedded registry)",
    )
    .addOption(
      new Option("--registry-username <user>", "user for --registry (Basic, or for its token service)").env(
        "WASMLET_REGISTRY_USERNAME",
      ),
    )
    .addOption(
      new Option(
        "--registry-password <password>",
        "password for --registry (better: the environment variable or a file)",
      ).env("WASMLET_REGISTRY_PASSWORD"),
    )
    .option(
      "--registry-password-file <file>",
      "file holding the password for --registry (e.g. a mounted Secret)",
    )
    .addOption(
      new Option(
        "--role <role>",
        "what this node runs: all; control (API, registry, duties; no router); router (public port; its control port answers health, metrics and its invocation records and logs) — control and router need --store etcd://",
      )
        .choices(SERVE_ROLES)
        .default("all"),
    )
    .option("--etcd-ca <file>", "CA certificate (PEM) of the etcd members: connect over TLS")
    .option("--etcd-cert <file>", "client certificate (PEM) for etcd's mutual TLS")
    .option("--etcd-key <file>", "client key (PEM) for etcd's mutual TLS")
    .option("--etcd-user <user>", "etcd user (or user:password in the --store URL)")
    .addOption(
      new Option("--etcd-password <password>", "etcd password (better: the environment variable)").env(
        "WASMLET_ETCD_PASSWORD",
      ),
    )
    .option("--demo", "deploy the bundled examples with routes and print how to call them")
    .action(
      async (opts: {
        dataDir: string;
        listen: string;
        control: string;
        tokenFile?: string;
        secretKeyFile?: string;
        registryAuth?: string;
        publicRegistry?: string;
        advertiseAddress?: string;
        gcInterval: number;
        gcGrace: number;
        headerTimeout: number;
        requestTimeout: number;
        keepaliveTimeout: number;
        maxConnections: number;
        outputBuffer: number;
        workers: number;
        busyPollUs?: number;
        busyPollYield?: number;
        cpuAffinity?: "auto" | "off";
        requestSliceUs?: number;
        helperNice: number;
        metrics: boolean;
        otlp?: string;
        nats?: string;
        natsUser?: string;
        natsPassword?: string;
        natsToken?: string;
        drainTimeout: number;
        store: string;
        registry?: string;
        registryUsername?: string;
        registryPassword?: string;
        registryPasswordFile?: string;
        role: ServeRole;
        etcdCa?: string;
        etcdCert?: string;
        etcdKey?: string;
        etcdUser?: string;
        etcdPassword?: string;
        demo?: boolean;
      }) => {
        let token: string | undefined;
        if (opts.tokenFile) {
          try {
            token = readFileSync(opts.tokenFile, "utf8").trim();
          } catch (e) {
            throw new WasmletError(
              "INVALID_ARGUMENT",
              `--token-file: cannot read ${opts.tokenFile}: ${(e as Error).message}`,
            );
          }
          if (!token) throw new WasmletError("INVALID_ARGUMENT", `--token-file: ${opts.tokenFile} is empty`);
        }
        const registryCredentials = readRegistryCredentials(opts);
        const { deployExamples, parseHostPort, serve, etcdConnection, muteIpServernameWarning } =
          await import("../main/index.js");
        const etcd =
          opts.store === "sqlite"
            ? undefined
            : etcdConnection(opts.store, {
                ca: opts.etcdCa,
                cert: opts.etcdCert,
                key: opts.etcdKey,
                user: opts.etcdUser,
                password: opts.etcdPassword,
              });
        if (etcd?.tls) muteIpServernameWarning();
        const s = await serve({
          dataDir: opts.dataDir,
          etcd,
          role: opts.role,
          registry: opts.registry,
          registryCredentials,
          listen: parseHostPort(opts.listen, "--listen"),
          control: parseHostPort(opts.control, "--control"),
          token,
          secretKeyFile: opts.secretKeyFile,
          registryAuth: opts.registryAuth ? readRegistryAuth(opts.registryAuth) : undefined,
          publicRegistry: opts.publicRegistry,
          advertiseAddress: opts.advertiseAddress,
          gcIntervalMs: opts.gcInterval,
          gcGraceMs: opts.gcGrace,
          http: {
            headersTimeoutMs: opts.headerTimeout,
            requestTimeoutMs: opts.requestTimeout,
            keepAliveTimeoutMs: opts.keepaliveTimeout,
            maxConnections: opts.maxConnections,
            outputBufferBytes: opts.outputBuffer,
          },
          workers: opts.workers,
          busyPollUs: opts.busyPollUs,
          busyPollYield: opts.busyPollYield === undefined ? undefined : opts.busyPollYield / 100,
          cpuAffinity: opts.cpuAffinity,
          requestSliceUs: opts.requestSliceUs,
          helperNice: opts.helperNice,
          metrics: opts.metrics,
          otlp: opts.otlp,
          nats: opts.nats
            ? { url: opts.nats, user: opts.natsUser, pass: opts.natsPassword, token: opts.natsToken }
            : undefined,
        });
        console.log(
          s.routerUrl
            ? `wasmlet: router on ${s.routerUrl}`
            : "wasmlet: no router on this node (--role control)",
        );
        console.log(
          opts.role === "router"
            ? `wasmlet: control port (health, metrics; --role router) on ${s.controlUrl}`
            : s.externalRegistry
              ? `wasmlet: control API on ${s.controlUrl}; function images in the external registry ${s.externalRegistry} (under ${s.registryHost}/functions/; no gc by Wasmlet)`
              : `wasmlet: control API and OCI registry on ${s.controlUrl} (images under ${s.registryHost}/functions/)`,
        );
        console.log(
          etcd
            ? `wasmlet: state in etcd (${etcd.endpoints.join(", ")}); this node's invocation records and logs in ${opts.dataDir}`
            : `wasmlet: state in ${opts.dataDir}`,
        );
        if (opts.demo) {
          const lines = await deployExamples(s.controlUrl, s.routerUrl, token);
          console.log("wasmlet: examples deployed; try:");
          for (const l of lines) console.log(`  ${l}`);
          console.log("  npx wasmlet fn list");
        }
        // Graceful drain: readiness turns 503, the listeners stop accepting and what is in flight finishes (up to
        // --drain-timeout), then exit 0. Kubernetes sends SIGTERM and kills 30 s later by default.
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) {
            console.error(`wasmlet: ${signal} again: stopping at once`);
            process.exit(1);
          }
          stopping = true;
          console.error(
            `wasmlet: ${signal}: draining (up to ${opts.drainTimeout / 1000} s; send it again to stop at once)`,
          );
          s.drain(opts.drainTimeout).then(
            ({ cut, ms }) => {
              console.error(
                cut > 0
                  ? `wasmlet: drain timeout after ${ms} ms: ${cut} requests cut; stopped`
                  : `wasmlet: drained in ${ms} ms; stopped`,
              );
              process.exit(0);
            },
            (e) => {
              console.error(`wasmlet: stopping failed: ${e instanceof Error ? e.message : e}`);
              process.exit(1);
            },
          );
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      },
    );
}
