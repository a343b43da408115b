// Row W's server: bundles bench/workerd/worker.ts (as compiled to dist/) with esbuild, writes a workerd config
// (capnp text) to a temp dir and runs `workerd serve` on 127.0.0.1:<free port>.
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";
import { freePort, type Proc, ROOT, startProc } from "../procs.js";

export const WORKERD_BIN = join(ROOT, "node_modules/@cloudflare/workerd-linux-64/bin/workerd");
/** Recent enough for nodejs_compat to give the global `process` and `Buffer` the WASI host uses. */
const COMPAT_DATE = "2025-06-01";

export interface Workerd extends Proc {
  url: string;
}

function config(port: number): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .echoWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);

const echoWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "echo.wasm", wasm = embed "echo.wasm"),
  ],
  compatibilityDate = "${COMPAT_DATE}",
  compatibilityFlags = ["nodejs_compat", "enable_nodejs_process_v2"],
);
`;
}

/**
 * workerd refuses random values in a module's global scope, and core/ids.js draws its per-process prefix there
 * (the WASI host imports core): the bundle gets a fixed prefix instead (the worker makes no invocation ids).
 */
const NO_RANDOM_AT_LOAD: Plugin = {
  name: "no-random-at-load",
  setup(b) {
    b.onLoad({ filter: /[\\/]core[\\/]ids\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      const fixed = source.replace('randomBytes(5).toString("hex")', '"workerd000"');
      if (fixed === source) throw new Error(`${args.path}: the random prefix this plugin replaces is gone`);
      return { contents: fixed, loader: "js" };
    });
  },
};

/** Starts workerd serving `wasmPath`; resolves once it answers, or throws with why it could not run. */
export async function startWorkerd(wasmPath: string): Promise<Workerd> {
  if (!existsSync(WORKERD_BIN)) throw new Error(`workerd binary not found at ${WORKERD_BIN} (npm install)`);
  const dir = mkdtempSync(join(tmpdir(), "wasmlet-workerd-"));
  try {
    await build({
      entryPoints: [join(ROOT, "dist/bench/workerd/worker.js")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      external: ["node:*", "*.wasm"],
      outfile: join(dir, "worker.js"),
      logLevel: "error",
      plugins: [NO_RANDOM_AT_LOAD],
    });
    copyFileSync(wasmPath, join(dir, "echo.wasm"));
    const port = await freePort();
    writeFileSync(join(dir, "config.capnp"), config(port));
    const url = `http://127.0.0.1:${port}`;
    const p = await startProc(WORKERD_BIN, ["serve", join(dir, "config.capnp")], {
      cwd: dir,
      ready: async () => {
        try {
          // Our worker's answer, not whatever else might hold the port.
          return (await (await fetch(`${url}/echo/ready`)).text()).includes("from wasmlet");
        } catch {
          return false;
        }
      },
    });
    return {
      ...p,
      url,
      async stop() {
        await p.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
