import { type Command, Option } from "commander";
import { clientOf, loadSpec, type OutputFormat, print, printResource } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table, toYaml } from "./output.js";

export function registerEnv(program: Command): void {
  const env = program.command("env").description(NOUN_HELP.env);

  env
    .command("create")
    .description("name a builder (and build command) that --env accepts")
    .requiredOption("--name <name>", "environment name")
    .requiredOption("--builder <builder>", "toolchain: assemblyscript, c or rust")
    .option("--buildcmd <command>", "default build command of packages using it")
    .option("--spec", "write specs/env-<name>.yaml instead of calling the API")
    .option("--specdir <dir>", "spec directory", "specs")
    .action(
      async (
        o: { name: string; builder: string; buildcmd?: string; spec?: boolean; specdir: string },
        cmd: Command,
      ) => {
        if (o.spec) {
          const { specDocument, writeSpec } = await loadSpec();
          const doc = specDocument("Environment", o.name, { builder: o.builder, buildCommand: o.buildcmd });
          print(`wrote ${await writeSpec(o.specdir, doc)}`);
          return;
        }
        const e = await clientOf(cmd).createEnvironment({
          name: o.name,
          builder: o.builder,
          buildCommand: o.buildcmd,
        });
        print(`environment "${e.name}" created (builder ${e.builder})`);
      },
    );

  env
    .command("get")
    .description("show an environment")
    .requiredOption("--name <name>", "environment name")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (o: { name: string; output: OutputFormat }, cmd: Command) => {
      printResource(await clientOf(cmd).getEnvironment(o.name), o.output, toYaml);
    });

  env
    .command("list")
    .description("list environments")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listEnvironments();
      print(
        table(
          ["NAME", "BUILDER", "BUILDCMD"],
          items.map((e) => [e.name, e.builder, e.buildCommand ?? ""]),
        ),
      );
    });

  env
    .command("delete")
    .description("delete an environment (refused while a package uses it)")
    .requiredOption("--name <name>", "environment name")
    .action(async (o: { name: string }, cmd: Command) => {
      await clientOf(cmd).deleteEnvironment(o.name);
      print(`environment "${o.name}" deleted`);
    });
}
