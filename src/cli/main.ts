import { Command, CommanderError, Option } from "commander";
import { registerCanary } from "./canary.js";
import { DEFAULT_SERVER } from "./common.js";
import { registerEnv } from "./env.js";
import { registerFn } from "./fn.js";
import { registerImage } from "./image.js";
import { registerInv } from "./inv.js";
import { registerMqt } from "./mqt.js";
import { registerPkg } from "./pkg.js";
import { registerRegistry } from "./registry.js";
import { registerRoute } from "./route.js";
import { registerServe } from "./serve.js";
import { registerSpec } from "./spec.js";
import { registerTimer } from "./timer.js";

/** Builds the `wasmlet` program: global options, then one registration per noun. */
export async function buildProgram(): Promise<Command> {
  const program = new Command("wasmlet")
    .description("serverless WebAssembly functions: OCI images in, HTTP responses out")
    // Before any subcommand exists, so every command inherits them: usage errors throw instead of exiting.
    .exitOverride()
    .configureOutput({ outputError: (msg, write) => write(`${msg.trimEnd().split("\n").join(" ")}\n`) })
    .addOption(
      new Option("--server <url>", "control API of wasmlet").env("WASMLET_SERVER").default(DEFAULT_SERVER),
    )
    .addOption(new Option("--token <token>", "bearer token of the control API").env("WASMLET_TOKEN"));
  registerFn(program);
  registerRoute(program);
  registerCanary(program);
  registerTimer(program);
  registerMqt(program);
  registerInv(program);
  registerPkg(program);
  registerEnv(program);
  registerSpec(program);
  registerImage(program);
  registerRegistry(program);
  registerServe(program);
  return program;
}

/** Runs one command line; resolves to the exit status. Every failure is ONE `error: ...` line on stderr. */
export async function run(argv: string[]): Promise<number> {
  try {
    await (await buildProgram()).parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    // Commander already printed its usage error (or the help) before throwing.
    if (e instanceof CommanderError) return e.exitCode;
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`error: ${message.split("\n").join(" ")}\n`);
    return 1;
  }
}

process.exitCode = await run(process.argv);
