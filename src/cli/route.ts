import { type Command, Option } from "commander";
import { HTTP_METHODS, type HttpMethod, type HttpTriggerRecord, WasmletError } from "../core/index.js";
import { clientOf, collect, loadSpec, type OutputFormat, print, printResource } from "./common.js";
import { table, toYaml } from "./output.js";

function describe(t: HttpTriggerRecord): string {
  return `${t.methods.join(",")} ${t.path}${t.match === "prefix" ? " (and below)" : ""} -> ${t.function}${t.async ? " (async)" : ""}`;
}

export function registerRoute(program: Command): void {
  const route = program.command("route").description("manage HTTP triggers (create, get, list, delete)");

  route
    .command("create")
    .description("route HTTP requests to a function")
    .requiredOption("--name <name>", "route name")
    .requiredOption("--function <name>", "function to call")
    .option("--url <path>", "exact path; {param} segments match one segment")
    .option("--prefix <path>", "the path and everything below it")
    .option("--method <method>", `HTTP method (repeatable; default GET): ${HTTP_METHODS.join(", ")}`, collect)
    .option(
      "--async",
      "answer every request 202 at once and run it later from a durable queue (see wasmlet inv)",
    )
    .option("--spec", "write specs/route-<name>.yaml instead of calling the API")
    .option("--specdir <dir>", "spec directory", "specs")
    .action(
      async (
        o: {
          name: string;
          function: string;
          url?: string;
          prefix?: string;
          method?: string[];
          async?: boolean;
          spec?: boolean;
          specdir: string;
        },
        cmd: Command,
      ) => {
        if ((o.url === undefined) === (o.prefix === undefined))
          throw new WasmletError("INVALID_ARGUMENT", "exactly one of --url or --prefix is required");
        if (o.spec) {
          const { specDocument, writeSpec } = await loadSpec();
          const methods = o.method?.map((m) => m.toUpperCase() as HttpMethod);
          const doc = specDocument("HTTPTrigger", o.name, {
            function: o.function,
            methods,
            url: o.url,
            prefix: o.prefix,
            async: o.async,
          });
          print(`wrote ${await writeSpec(o.specdir, doc)}`);
          return;
        }
        const t = await clientOf(cmd).createHttpTrigger({
          name: o.name,
          function: o.function,
          url: o.url,
          prefix: o.prefix,
          methods: o.method?.map((m) => m.toUpperCase() as HttpMethod),
          async: o.async,
        });
        print(`route "${t.name}" created: ${describe(t)}`);
      },
    );

  route
    .command("list")
    .description("list routes")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listHttpTriggers();
      print(
        table(
          ["NAME", "METHODS", "MATCH", "PATH", "FUNCTION"],
          items.map((t) => [t.name, t.methods.join(","), t.match, t.path, t.function]),
        ),
      );
    });

  route
    .command("get")
    .description("show a route")
    .requiredOption("--name <name>", "route name")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (o: { name: string; output: OutputFormat }, cmd: Command) => {
      printResource(await clientOf(cmd).getHttpTrigger(o.name), o.output, toYaml);
    });

  route
    .command("delete")
    .description("delete a route")
    .requiredOption("--name <name>", "route name")
    .action(async (o: { name: string }, cmd: Command) => {
      await clientOf(cmd).deleteHttpTrigger(o.name);
      print(`route "${o.name}" deleted`);
    });
}
