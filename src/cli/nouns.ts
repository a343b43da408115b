// The nouns of `wasmlet`: what `--help` lists, and how each one's commands are loaded. A command line loads the
// module of its own noun only (a bare `--help` loads none): each module brings the client, zod, yaml... that the
// others do not need, and module loading is most of a command's start-up time.
import type { Command } from "commander";

export const NOUN_HELP = {
  fn: "manage functions (create, get, list, update, delete, test, logs)",
  route: "manage HTTP triggers (create, get, list, update, delete)",
  canary: "canary releases: move a route's traffic to a new function step by step, back at once on failures",
  timer: "manage time triggers: call a function on a cron schedule (create, get, list, update, delete)",
  mqt: "manage message queue triggers: call a function per message (create, get, list, update, delete)",
  inv: "asynchronous invocations: get, list, redrive, purge",
  secret:
    "manage secrets functions read as /secrets/<name>/<key> (create, get, list, update, delete; values never shown)",
  config: "manage configs functions read as /configs/<name>/<key> (create, get, list, update, delete)",
  pkg: "manage source packages (create, info, list, rebuild, getsrc, delete)",
  env: "manage environments: builder presets for packages (create, get, list, delete)",
  spec: "declarative specs: YAML in specs/ applied to the server (init, validate, apply, destroy, list)",
  image: "work with OCI images directly in any registry (push, pull, ls, inspect)",
  registry: "manage the embedded OCI registry (gc)",
  node: "the nodes serving this platform when they share an etcd store (list)",
  serve: "run the router, control API and embedded OCI registry on this machine",
} as const;

export type Noun = keyof typeof NOUN_HELP;

/** Each noun's registration, loaded on demand. */
export const NOUN_LOADERS: Record<Noun, () => Promise<(program: Command) => void>> = {
  fn: async () => (await import("./fn.js")).registerFn,
  route: async () => (await import("./route.js")).registerRoute,
  canary: async () => (await import("./canary.js")).registerCanary,
  timer: async () => (await import("./timer.js")).registerTimer,
  mqt: async () => (await import("./mqt.js")).registerMqt,
  inv: async () => (await import("./inv.js")).registerInv,
  secret: async () => (await import("./secret.js")).registerSecret,
  config: async () => (await import("./config.js")).registerConfig,
  pkg: async () => (await import("./pkg.js")).registerPkg,
  env: async () => (await import("./env.js")).registerEnv,
  spec: async () => (await import("./spec.js")).registerSpec,
  image: async () => (await import("./image.js")).registerImage,
  registry: async () => (await import("./registry.js")).registerRegistry,
  node: async () => (await import("./node.js")).registerNode,
  serve: async () => (await import("./serve.js")).registerServe,
};

/** Global options that take a value (as a separate argument unless written `--opt=value`). */
const VALUE_OPTIONS = new Set(["--server", "--token"]);

/** The noun a command line names (`wasmlet --server X fn list` → `fn`), or undefined (`--help`, a typo). */
export function nounOf(argv: string[]): Noun | undefined {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith("-")) return Object.hasOwn(NOUN_HELP, a) ? (a as Noun) : undefined;
  }
  return undefined;
}
