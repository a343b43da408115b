import { type Command, Option } from "commander";
import { type AsyncInvocation, INVOCATION_STATUSES, type InvocationStatus } from "../core/index.js";
import { clientOf, type OutputFormat, positiveInt, print, printResource, warnPartial } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table, toYaml } from "./output.js";

/** The invocation with its request and result bodies decoded when they are text. */
function readable(inv: AsyncInvocation): unknown {
  const decode = (b64: string) => {
    const bytes = Buffer.from(b64, "base64");
    const text = bytes.toString("utf8");
    return Buffer.from(text, "utf8").equals(bytes) ? text : `<${bytes.length} bytes>`;
  };
  return {
    ...inv,
    request: { ...inv.request, body: decode(inv.request.body) },
    result: inv.result && { ...inv.result, body: decode(inv.result.body) },
  };
}

/** `wasmlet inv`: asynchronous invocations (202 from a route with --async, or a caller's Prefer: respond-async). */
export function registerInv(program: Command): void {
  const inv = program.command("inv").description(NOUN_HELP.inv);

  inv
    .command("get")
    .description(
      "show an invocation: status, attempts, last error, result (on a cluster, from whichever node holds it: `node`)",
    )
    .requiredOption("--id <id>", "invocation id (the 202's body and Location)")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (o: { id: string; output: OutputFormat }, cmd: Command) => {
      const v = await clientOf(cmd).getInvocation(o.id);
      printResource(o.output === "json" ? v : readable(v), o.output, toYaml);
    });

  inv
    .command("list")
    .description(
      "list invocations, newest first, with the counts per status (on a cluster, of every node: NODE; a warning names the nodes that did not answer)",
    )
    .option("--function <name>", "only this function's")
    .addOption(new Option("--status <status>", "only these").choices([...INVOCATION_STATUSES]))
    .option("--limit <n>", "at most this many (1-1000)", positiveInt, 100)
    .action(async (o: { function?: string; status?: InvocationStatus; limit: number }, cmd: Command) => {
      const page = await clientOf(cmd).listInvocations(o);
      const { items, counts } = page;
      // A cluster's answer names each invocation's node (it is absent on a single node).
      const nodes = items.some((i) => i.node !== undefined);
      print(
        table(
          [
            "ID",
            "FUNCTION",
            ...(nodes ? ["NODE"] : []),
            "STATUS",
            "ATTEMPTS",
            "ACCEPTED",
            "RESULT",
            "LAST ERROR",
          ],
          items.map((i) => [
            i.id,
            i.function,
            ...(nodes ? [i.node ?? "-"] : []),
            i.status,
            String(i.attempts),
            i.acceptedAt,
            i.result ? String(i.result.status) : "-",
            (i.lastError ?? "").split("\n")[0].slice(0, 60),
          ]),
        ),
      );
      print(INVOCATION_STATUSES.map((s) => `${s}: ${counts[s]}`).join(", "));
      warnPartial(page);
    });

  inv
    .command("redrive")
    .description("run dead invocations again (attempts and age reset), on every node of a cluster")
    .option("--function <name>", "every dead invocation of this function")
    .option("--id <id>", "one invocation")
    .action(async (o: { function?: string; id?: string }, cmd: Command) => {
      const r = await clientOf(cmd).redriveInvocations(o);
      print(`${r.redriven} invocations redriven`);
      warnPartial(r);
    });

  inv
    .command("purge")
    .description(
      "delete finished invocations (succeeded, dead), on every node of a cluster; pending and running ones are kept",
    )
    .option("--function <name>", "only this function's")
    .addOption(new Option("--status <status>", "only these").choices(["succeeded", "dead"]))
    .option("--id <id>", "one invocation")
    .action(async (o: { function?: string; id?: string; status?: InvocationStatus }, cmd: Command) => {
      const r = await clientOf(cmd).purgeInvocations(o);
      print(`${r.purged} invocations purged`);
      warnPartial(r);
    });
}
