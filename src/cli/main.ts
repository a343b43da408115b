import { Command, CommanderError, Option } from "commander";
import { DEFAULT_SERVER } from "./common.js";
import { NOUN_HELP, NOUN_LOADERS, type Noun, nounOf } from "./nouns.js";

/**
 * Builds the `wasmlet` program: global options, then the nouns — the one `argv` names with all its commands (its
 * module loaded now), every other as a name and a line of help, which is all `wasmlet --help` shows of them.
 */
export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command("wasmlet")
    .description("serverless WebAssembly functions: OCI images in, HTTP responses out")
    // Before any subcommand exists, so every command inherits them: usage errors throw instead of exiting.
    .exitOverride()
    .configureOutput({ outputError: (msg, write) => write(`${msg.trimEnd().split("\n").join(" ")}\n`) })
    .addOption(
      new Option("--server <url>", "control API of wasmlet").env("WASMLET_SERVER").default(DEFAULT_SERVER),
    )
    .addOption(new Option("--token <token>", "bearer token of the control API").env("WASMLET_TOKEN"));
  const noun = nounOf(argv);
  for (const name of Object.keys(NOUN_HELP) as Noun[]) {
    if (name === noun) (await NOUN_LOADERS[name]())(program);
    else program.command(name).description(NOUN_HELP[name]);
  }
  return program;
}

/** Runs one command line; resolves to the exit status. Every failure is ONE `error: ...` line on stderr. */
export async function run(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
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
