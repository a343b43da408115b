import type { Command } from "commander";
import { NOUN_HELP } from "./nouns.js";
import { registerValueCommands } from "./value-sets.js";

/** `wasmlet config`: non-secret settings functions read (`config get` shows the values). */
export function registerConfig(program: Command): void {
  registerValueCommands(program.command("config").description(NOUN_HELP.config), "config");
}
