import type { Command } from "commander";
import { NOUN_HELP } from "./nouns.js";
import { registerValueCommands } from "./value-sets.js";

/** `wasmlet secret`: secrets, encrypted at rest by the server; no command shows a value. */
export function registerSecret(program: Command): void {
  registerValueCommands(program.command("secret").description(NOUN_HELP.secret), "secret");
}
