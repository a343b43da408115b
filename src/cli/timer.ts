import { type Command, Option } from "commander";
import type { TimeTriggerView } from "../client/index.js";
import { HTTP_METHODS, type HttpMethod } from "../core/index.js";
import { clientOf, loadSpec, type OutputFormat, positiveInt, print, printResource } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table, toYaml } from "./output.js";

const methodOption = () =>
  new Option("--method <method>", `HTTP method the function sees: ${HTTP_METHODS.join(", ")} (default POST)`);

function upper(m: string | undefined): HttpMethod | undefined {
  return m === undefined ? undefined : (m.toUpperCase() as HttpMethod);
}

function describe(t: TimeTriggerView): string {
  const next = t.status?.nextFire ? `; next fire ${t.status.nextFire}` : "";
  return `"${t.cron}" -> ${t.method} ${t.subpath} of ${t.function}${next}`;
}

/** `wasmlet timer`: time triggers (cron), run by the server. */
export function registerTimer(program: Command): void {
  const timer = program.command("timer").description(NOUN_HELP.timer);

  timer
    .command("create")
    .description("call a function on a schedule")
    .requiredOption("--name <name>", "timer name")
    .requiredOption("--function <name>", "function to call")
    .requiredOption(
      "--cron <expr>",
      'schedule: 5 fields, 6 with seconds first, @hourly/@daily/@weekly/@monthly/@yearly, or "@every 1m30s"',
    )
    .addOption(methodOption())
    .option("--subpath <path>", "path (and query) the function sees", "/")
    .option("--body <text>", "request body sent on each fire")
    .option("--spec", "write specs/timer-<name>.yaml instead of calling the API")
    .option("--specdir <dir>", "spec directory", "specs")
    .action(
      async (
        o: {
          name: string;
          function: string;
          cron: string;
          method?: string;
          subpath: string;
          body?: string;
          spec?: boolean;
          specdir: string;
        },
        cmd: Command,
      ) => {
        if (o.spec) {
          const { specDocument, writeSpec } = await loadSpec();
          const doc = specDocument("TimeTrigger", o.name, {
            function: o.function,
            cron: o.cron,
            method: upper(o.method),
            subpath: o.subpath,
            body: o.body,
          });
          print(`wrote ${await writeSpec(o.specdir, doc)}`);
          return;
        }
        const t = await clientOf(cmd).createTimeTrigger({
          name: o.name,
          function: o.function,
          cron: o.cron,
          method: upper(o.method),
          subpath: o.subpath,
          body: o.body,
        });
        print(`timer "${t.name}" created: ${describe(t)}`);
      },
    );

  timer
    .command("update")
    .description("change a timer (takes effect within a second)")
    .requiredOption("--name <name>", "timer name")
    .option("--function <name>", "function to call")
    .option("--cron <expr>", "schedule")
    .addOption(methodOption())
    .option("--subpath <path>", "path (and query) the function sees")
    .option("--body <text>", 'request body sent on each fire ("" removes it)')
    .action(
      async (
        o: {
          name: string;
          function?: string;
          cron?: string;
          method?: string;
          subpath?: string;
          body?: string;
        },
        cmd: Command,
      ) => {
        const t = await clientOf(cmd).updateTimeTrigger(o.name, {
          function: o.function,
          cron: o.cron,
          method: upper(o.method),
          subpath: o.subpath,
          body: o.body,
        });
        print(`timer "${t.name}" updated: ${describe(t)}`);
      },
    );

  timer
    .command("list")
    .description("list timers with their next fire and last run")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listTimeTriggers();
      print(
        table(
          ["NAME", "CRON", "FUNCTION", "METHOD", "SUBPATH", "STATE", "NEXT FIRE", "LAST STATUS"],
          items.map((t) => [
            t.name,
            t.cron,
            t.function,
            t.method,
            t.subpath,
            t.status?.state ?? "-",
            t.status?.nextFire ?? "-",
            t.status?.last?.status === undefined ? "-" : String(t.status.last.status),
          ]),
        ),
      );
    });

  timer
    .command("get")
    .description("show a timer, with its live state (next fire, last run, skipped fires, last error)")
    .requiredOption("--name <name>", "timer name")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (o: { name: string; output: OutputFormat }, cmd: Command) => {
      printResource(await clientOf(cmd).getTimeTrigger(o.name), o.output, toYaml);
    });

  timer
    .command("delete")
    .description("delete a timer (it never fires again once this returns)")
    .requiredOption("--name <name>", "timer name")
    .action(async (o: { name: string }, cmd: Command) => {
      await clientOf(cmd).deleteTimeTrigger(o.name);
      print(`timer "${o.name}" deleted`);
    });

  timer
    .command("showschedule")
    .description("print the next fire times of a schedule, as the server computes them")
    .requiredOption("--cron <expr>", "schedule")
    .option("--round <n>", "how many fire times (1-100)", positiveInt, 1)
    .action(async (o: { cron: string; round: number }, cmd: Command) => {
      const s = await clientOf(cmd).schedule(o.cron, o.round);
      print(`next ${s.fires.length} fire times of "${s.cron}" (server time zone ${s.timeZone}):`);
      for (const f of s.fires) print(f);
    });
}
