// What `secret` and `config` share: they differ in what get and list show (a secret's values never leave the
// server) and in nothing else.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { type Command, Option } from "commander";
import type { ApiClient, ConfigView, SecretView } from "../client/index.js";
import { type ValueKind, WasmletError } from "../core/index.js";
import { clientOf, collect, type OutputFormat, print, printResource } from "./common.js";
import { table, toYaml } from "./output.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** `--from-literal k=v` and `--from-file [k=]path` into the API's `data` (kubectl's forms). */
export function readData(o: {
  fromLiteral?: string[];
  fromFile?: string[];
}): Record<string, string> | undefined {
  if (o.fromLiteral === undefined && o.fromFile === undefined) return undefined;
  const data: Record<string, string> = {};
  const put = (key: string, value: string, option: string) => {
    if (Object.hasOwn(data, key))
      throw new WasmletError("INVALID_ARGUMENT", `${option}: key "${key}" is given twice`);
    data[key] = value;
  };
  for (const p of o.fromLiteral ?? []) {
    const i = p.indexOf("=");
    // The value is never echoed: a secret's would end up in a terminal log.
    if (i <= 0) throw new WasmletError("INVALID_ARGUMENT", "--from-literal: must look like KEY=VALUE");
    put(p.slice(0, i), p.slice(i + 1), "--from-literal");
  }
  for (const p of o.fromFile ?? []) {
    const i = p.indexOf("=");
    const [key, path] = i > 0 ? [p.slice(0, i), p.slice(i + 1)] : [basename(p), p];
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new WasmletError("INVALID_ARGUMENT", `--from-file: cannot read ${path}: ${(e as Error).message}`);
    }
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      throw new WasmletError("INVALID_ARGUMENT", `--from-file: ${path} is not UTF-8 text (values are text)`);
    }
    put(key, text, "--from-file");
  }
  return data;
}

interface Api {
  create(
    c: ApiClient,
    input: { name: string; data: Record<string, string> },
  ): Promise<SecretView | ConfigView>;
  update(
    c: ApiClient,
    name: string,
    input: { data?: Record<string, string>; removeKeys?: string[]; replace?: boolean },
  ): Promise<SecretView | ConfigView>;
  get(c: ApiClient, name: string): Promise<SecretView | ConfigView>;
  list(c: ApiClient): Promise<(SecretView | ConfigView)[]>;
  delete(c: ApiClient, name: string): Promise<void>;
}

const APIS: Record<ValueKind, Api> = {
  secret: {
    create: (c, i) => c.createSecret(i),
    update: (c, n, i) => c.updateSecret(n, i),
    get: (c, n) => c.getSecret(n),
    list: (c) => c.listSecrets(),
    delete: (c, n) => c.deleteSecret(n),
  },
  config: {
    create: (c, i) => c.createConfig(i),
    update: (c, n, i) => c.updateConfig(n, i),
    get: (c, n) => c.getConfig(n),
    list: (c) => c.listConfigs(),
    delete: (c, n) => c.deleteConfig(n),
  },
};

const keysOf = (v: SecretView | ConfigView): string[] => ("keys" in v ? v.keys : Object.keys(v.data).sort());

/** The `create|get|list|update|delete` commands of `wasmlet secret` or `wasmlet config`. */
export function registerValueCommands(noun: Command, kind: ValueKind): void {
  const api = APIS[kind];
  const where = kind === "secret" ? "/secrets" : "/configs";
  const dataOptions = (cmd: Command) =>
    cmd
      .option("--from-literal <KEY=VALUE>", "a key and its value (repeatable)", collect)
      .option(
        "--from-file <[KEY=]PATH>",
        "a key whose value is a UTF-8 file's content; the key defaults to the file's name (repeatable)",
        collect,
      );

  dataOptions(
    noun
      .command("create")
      .description(`create a ${kind}: functions that name it read ${where}/<name>/<key>`)
      .requiredOption("--name <name>", `${kind} name`),
  ).action(async (o: { name: string; fromLiteral?: string[]; fromFile?: string[] }, cmd: Command) => {
    const data = readData(o);
    if (data === undefined)
      throw new WasmletError("INVALID_ARGUMENT", "give at least one --from-literal or --from-file");
    const v = await api.create(clientOf(cmd), { name: o.name, data });
    print(`${kind} "${v.name}" created with keys ${keysOf(v).join(", ") || "(none)"}`);
  });

  dataOptions(
    noun
      .command("update")
      .description(`add, change or remove keys; functions see the new values from their next invocation`)
      .requiredOption("--name <name>", `${kind} name`),
  )
    .option("--remove-key <key>", "remove a key (repeatable)", collect)
    .option("--replace", "the given keys become the whole set (the others are removed)")
    .action(
      async (
        o: {
          name: string;
          fromLiteral?: string[];
          fromFile?: string[];
          removeKey?: string[];
          replace?: boolean;
        },
        cmd: Command,
      ) => {
        const v = await api.update(clientOf(cmd), o.name, {
          data: readData(o),
          removeKeys: o.removeKey,
          replace: o.replace,
        });
        print(`${kind} "${v.name}" updated: keys ${keysOf(v).join(", ") || "(none)"}`);
      },
    );

  noun
    .command("get")
    .description(
      kind === "secret"
        ? "show a secret's keys and the functions that use it (never its values)"
        : "show a config, its values and the functions that use it",
    )
    .requiredOption("--name <name>", `${kind} name`)
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (o: { name: string; output: OutputFormat }, cmd: Command) => {
      printResource(await api.get(clientOf(cmd), o.name), o.output, toYaml);
    });

  noun
    .command("list")
    .description(`list ${kind}s and their keys`)
    .action(async (_o: unknown, cmd: Command) => {
      const items = await api.list(clientOf(cmd));
      print(
        table(
          ["NAME", "KEYS", "UPDATED"],
          items.map((v) => [v.name, keysOf(v).join(","), v.updatedAt]),
        ),
      );
    });

  noun
    .command("delete")
    .description(`delete a ${kind} (refused while a function uses it)`)
    .requiredOption("--name <name>", `${kind} name`)
    .action(async (o: { name: string }, cmd: Command) => {
      await api.delete(clientOf(cmd), o.name);
      print(`${kind} "${o.name}" deleted`);
    });
}
