import type { Command } from "commander";
import { clientOf, print } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table } from "./output.js";

export function registerNode(program: Command): void {
  const node = program.command("node").description(NOUN_HELP.node);

  node
    .command("list")
    .description("list the live nodes (each holds an etcd lease while it runs) and which one runs the duties")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listNodes();
      print(
        table(
          ["ID", "ROLE", "LEADER", "ROUTER", "CONTROL", "STARTED"],
          items.map((n) => [n.id, n.role, n.leader ? "yes" : "", n.routerUrl, n.controlUrl, n.startedAt]),
        ),
      );
    });
}
