import { type Command, Option } from "commander";
import type { CanaryRecord } from "../client/index.js";
import { WasmletError } from "../core/index.js";
import { clientOf, type OutputFormat, print, printResource } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table, toYaml } from "./output.js";

/** `60s`, `1m30s`, `500ms`, `2m`, `1h`, or a number of seconds. */
export function parseDuration(v: string, option: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let ms = 0;
  let at = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
    at = re.lastIndex;
  }
  if (at !== v.length || v === "")
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `${option}: "${v}" is not a duration (e.g. 60s, 1m30s, 500ms)`,
    );
  return Math.round(ms);
}

const int = (option: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new WasmletError("INVALID_ARGUMENT", `${option}: "${v}" is not a whole number`);
  return Number(v);
};

function describe(c: CanaryRecord): string {
  return `${c.canary} at ${c.weight} % on route ${c.name} (${c.status}; ${c.stable} has the rest)`;
}

export function registerCanary(program: Command): void {
  const canary = program.command("canary").description(NOUN_HELP.canary);

  canary
    .command("create")
    .description(
      "start a canary release: the new function gets --step % now and --step more each healthy interval",
    )
    .requiredOption("--route <name>", "route (HTTP trigger) whose traffic moves")
    .requiredOption("--new <function>", "the function to release")
    .option("--step <percent>", "weight added per healthy interval (default 20)", int("--step"))
    .option("--interval <duration>", "time between decisions, e.g. 60s, 1m30s, 500ms (default 60s)", (v) =>
      parseDuration(v, "--interval"),
    )
    .option(
      "--threshold <percent>",
      "failure rate (5xx: traps, timeouts, errors) over which the release is rolled back (default 10)",
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n))
          throw new WasmletError("INVALID_ARGUMENT", `--threshold: "${v}" is not a number`);
        return n;
      },
    )
    .option(
      "--min-requests <n>",
      "invocations an interval needs before it decides (default 20)",
      int("--min-requests"),
    )
    .action(
      async (
        o: {
          route: string;
          new: string;
          step?: number;
          interval?: number;
          threshold?: number;
          minRequests?: number;
        },
        cmd: Command,
      ) => {
        const c = await clientOf(cmd).createCanary({
          route: o.route,
          new: o.new,
          step: o.step,
          intervalMs: o.interval,
          thresholdPct: o.threshold,
          minRequests: o.minRequests,
        });
        print(`canary started: ${describe(c)}`);
      },
    );

  canary
    .command("get")
    .description(
      "show a canary and its history (every weight change: time, from, to, reason, failure rate, n)",
    )
    .requiredOption("--name <route>", "the canary's route")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["text", "yaml", "json"]).default("text"),
    )
    .action(async (o: { name: string; output: OutputFormat | "text" }, cmd: Command) => {
      const c = await clientOf(cmd).getCanary(o.name);
      if (o.output !== "text") {
        printResource(c, o.output, toYaml);
        return;
      }
      print(describe(c));
      print(
        `step ${c.step} % every ${c.intervalMs} ms; rolled back over ${c.thresholdPct} % failures; decides after ${c.minRequests} invocations`,
      );
      print(
        table(
          ["TIME", "FROM", "TO", "RATE", "N", "REASON"],
          c.history.map((e) => [
            e.time,
            `${e.from} %`,
            `${e.to} %`,
            e.rate === undefined ? "" : `${e.rate} %`,
            e.n === undefined ? "" : String(e.n),
            e.reason,
          ]),
        ),
      );
    });

  canary
    .command("list")
    .description("list canaries")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listCanaries();
      print(
        table(
          ["ROUTE", "NEW", "WEIGHT", "STATUS", "STABLE"],
          items.map((c) => [c.name, c.canary, `${c.weight} %`, c.status, c.stable]),
        ),
      );
    });

  canary
    .command("delete")
    .description("stop a canary; its route keeps the weights it has now")
    .requiredOption("--name <route>", "the canary's route")
    .action(async (o: { name: string }, cmd: Command) => {
      await clientOf(cmd).deleteCanary(o.name);
      print(`canary "${o.name}" stopped`);
    });
}
