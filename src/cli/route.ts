import { type Command, Option } from "commander";
import { HTTP_METHODS, type HttpMethod, type HttpTriggerRecord, WasmletError } from "../core/index.js";
import { clientOf, collect, loadSpec, type OutputFormat, print, printResource } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table, toYaml } from "./output.js";

/** `a` or `a=90, b=10` (weights in percent of their sum). */
function target(t: HttpTriggerRecord): string {
  if (!t.weights) return t.function;
  const total = Object.values(t.weights).reduce((a, b) => a + b, 0);
  return Object.entries(t.weights)
    .map(([f, w]) => `${f}=${w}${total !== 100 ? ` (${((100 * w) / total).toFixed(1)} %)` : ""}`)
    .join(", ");
}

function describe(t: HttpTriggerRecord): string {
  return `${t.methods.join(",")} ${t.path}${t.match === "prefix" ? " (and below)" : ""} -> ${target(t)}${t.async ? " (async)" : ""}`;
}

/**
 * `--function a` (one function) or `--function a=90 --function b=10` (weights, Fission's function weights): the
 * first named is the route's stable side.
 */
export function parseFunctions(values: string[]): { function: string; weights?: Record<string, number> } {
  if (values.length === 1 && !values[0].includes("=")) return { function: values[0] };
  const weights: Record<string, number> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+)$/.exec(v);
    if (!m)
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `--function: "${v}" is not NAME=WEIGHT (give one function, or a weight for each: --function a=90 --function b=10)`,
      );
    if (Object.hasOwn(weights, m[1]))
      throw new WasmletError("INVALID_ARGUMENT", `--function: ${m[1]} is named twice`);
    weights[m[1]] = Number(m[2]);
  }
  return { function: Object.keys(weights)[0], weights };
}

export function registerRoute(program: Command): void {
  const route = program.command("route").description(NOUN_HELP.route);

  route
    .command("create")
    .description("route HTTP requests to a function")
    .requiredOption("--name <name>", "route name")
    .requiredOption(
      "--function <name[=weight]>",
      "function to call; repeat with weights to split traffic (canary): --function a=90 --function b=10",
      collect,
    )
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
          function: string[];
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
            ...parseFunctions(o.function),
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
          ...parseFunctions(o.function),
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
          items.map((t) => [t.name, t.methods.join(","), t.match, t.path, target(t)]),
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
    .command("update")
    .description("send a route's traffic elsewhere: one function, or weights across several (a canary step)")
    .requiredOption("--name <name>", "route name")
    .requiredOption(
      "--function <name[=weight]>",
      "function to call, or weights: --function a=50 --function b=50 (a single name drops the weights)",
      collect,
    )
    .action(async (o: { name: string; function: string[] }, cmd: Command) => {
      const f = parseFunctions(o.function);
      const t = await clientOf(cmd).updateHttpTrigger(o.name, {
        function: f.function,
        weights: f.weights ?? null,
      });
      print(`route "${t.name}" updated: ${describe(t)}`);
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
