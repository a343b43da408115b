import { type Command, Option } from "commander";
import type { MqTriggerView } from "../client/index.js";
import { clientOf, loadSpec, nonNegativeInt, type OutputFormat, print, printResource } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table, toYaml } from "./output.js";

function describe(t: MqTriggerView): string {
  const out = [t.respTopic && `responses to ${t.respTopic}`, t.errorTopic && `failures to ${t.errorTopic}`]
    .filter(Boolean)
    .join(", ");
  return `${t.mqtype} ${t.topic} -> ${t.function}${out ? ` (${out})` : ""}`;
}

function where(t: MqTriggerView): string {
  const s = t.status;
  if (!s?.stream) return "-";
  return `${s.stream} (${s.streamCreated ? "created by wasmlet" : "existing"})`;
}

/** `wasmlet mqt`: message-queue triggers (NATS JetStream), run by the server (`serve --nats`). */
export function registerMqt(program: Command): void {
  const mqt = program.command("mqt").description(NOUN_HELP.mqt);

  mqt
    .command("create")
    .description("call a function for each message on a topic")
    .requiredOption("--name <name>", "trigger name")
    .requiredOption("--function <name>", "function to call")
    .option("--mqtype <type>", "broker kind (the server's serve --nats for nats)", "nats")
    .requiredOption(
      "--topic <subject>",
      "subject to consume (the stream holding it is used, or one is created)",
    )
    .option("--resptopic <subject>", "where a 2xx result's body is published")
    .option(
      "--errortopic <subject>",
      "where a message goes, with the error in headers, after its last attempt",
    )
    .option("--maxretries <n>", "retries after the first attempt (default 3)", nonNegativeInt)
    .option(
      "--contenttype <type>",
      "Content-Type of the request the function sees (default application/json)",
    )
    .option("--spec", "write specs/mqt-<name>.yaml instead of calling the API")
    .option("--specdir <dir>", "spec directory", "specs")
    .action(
      async (
        o: {
          name: string;
          function: string;
          mqtype: string;
          topic: string;
          resptopic?: string;
          errortopic?: string;
          maxretries?: number;
          contenttype?: string;
          spec?: boolean;
          specdir: string;
        },
        cmd: Command,
      ) => {
        if (o.spec) {
          const { specDocument, writeSpec } = await loadSpec();
          const doc = specDocument("MessageQueueTrigger", o.name, {
            function: o.function,
            mqtype: o.mqtype,
            topic: o.topic,
            respTopic: o.resptopic,
            errorTopic: o.errortopic,
            maxRetries: o.maxretries,
            contentType: o.contenttype,
          });
          print(`wrote ${await writeSpec(o.specdir, doc)}`);
          return;
        }
        const t = await clientOf(cmd).createMqTrigger({
          name: o.name,
          function: o.function,
          mqtype: o.mqtype as "nats",
          topic: o.topic,
          respTopic: o.resptopic,
          errorTopic: o.errortopic,
          maxRetries: o.maxretries,
          contentType: o.contenttype,
        });
        print(`message queue trigger "${t.name}" created: ${describe(t)}`);
      },
    );

  mqt
    .command("update")
    .description("change a trigger (it binds again; messages are not lost)")
    .requiredOption("--name <name>", "trigger name")
    .option("--function <name>", "function to call")
    .option("--topic <subject>", "subject to consume")
    .option("--resptopic <subject>", 'where a 2xx result\'s body is published ("" removes it)')
    .option("--errortopic <subject>", 'where failed messages go ("" removes it)')
    .option("--maxretries <n>", "retries after the first attempt", nonNegativeInt)
    .option("--contenttype <type>", "Content-Type of the request the function sees")
    .action(
      async (
        o: {
          name: string;
          function?: string;
          topic?: string;
          resptopic?: string;
          errortopic?: string;
          maxretries?: number;
          contenttype?: string;
        },
        cmd: Command,
      ) => {
        const t = await clientOf(cmd).updateMqTrigger(o.name, {
          function: o.function,
          topic: o.topic,
          respTopic: o.resptopic,
          errorTopic: o.errortopic,
          maxRetries: o.maxretries,
          contentType: o.contenttype,
        });
        print(`message queue trigger "${t.name}" updated: ${describe(t)}`);
      },
    );

  mqt
    .command("list")
    .description("list message queue triggers with their state and stream")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listMqTriggers();
      print(
        table(
          ["NAME", "FUNCTION", "MQTYPE", "TOPIC", "RESPTOPIC", "ERRORTOPIC", "STATE", "STREAM"],
          items.map((t) => [
            t.name,
            t.function,
            t.mqtype,
            t.topic,
            t.respTopic ?? "-",
            t.errorTopic ?? "-",
            t.status?.state ?? "-",
            where(t),
          ]),
        ),
      );
    });

  mqt
    .command("get")
    .description(
      "show a trigger: its stream (and whether wasmlet created it), consumer, state and last error",
    )
    .requiredOption("--name <name>", "trigger name")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (o: { name: string; output: OutputFormat }, cmd: Command) => {
      printResource(await clientOf(cmd).getMqTrigger(o.name), o.output, toYaml);
    });

  mqt
    .command("delete")
    .description("delete a trigger and its durable consumer (the stream stays)")
    .requiredOption("--name <name>", "trigger name")
    .action(async (o: { name: string }, cmd: Command) => {
      await clientOf(cmd).deleteMqTrigger(o.name);
      print(`message queue trigger "${o.name}" deleted`);
    });
}
