import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type Command, Option } from "commander";
import type { CreateFunctionInput, InvokeOptions, UpdateFunctionInput } from "../client/index.js";
import {
  CONTRACT_NAMES,
  type ContractName,
  DEFAULT_LIMITS,
  DEFAULT_RETRY,
  type FunctionRecord,
  IMAGE_FORMATS,
  type ImageFormat,
  INVOCATION_ID_HEADER,
  parseValueRef,
  preopenPath,
  WasmletError,
} from "../core/index.js";
import {
  clientOf,
  collect,
  duration,
  keyValues,
  nonNegativeInt,
  type OutputFormat,
  positiveInt,
  print,
  printResource,
  warnPartial,
} from "./common.js";
import { readDirOption } from "./fn-dirs.js";
import {
  addSourceOptions,
  createFromSource,
  registerFnVersions,
  type SourceOptions,
  updateFromSource,
} from "./fn-source.js";
import { NOUN_HELP } from "./nouns.js";
import { formatLogEntry, shortDigest, table, toYaml } from "./output.js";

interface FunctionOptions extends SourceOptions {
  name: string;
  code?: string;
  image?: string;
  contract?: ContractName;
  arg?: string[];
  env?: string[];
  timeout?: number;
  memory?: number;
  maxBody?: number;
  concurrency?: number;
  queue?: number;
  maxOutput?: number;
  file?: string[];
  dir?: string[];
  outputFile?: string;
  format?: ImageFormat;
  allowOutbound?: string[];
  secret?: string[];
  config?: string[];
  envFromSecret?: string[];
  envFromConfig?: string[];
  retries?: number;
  retryBackoff?: number;
  maxAge?: number;
}

function addFunctionOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--name <name>", "function name")
    .option(
      "--code <file>",
      "a WASI preview1 command module or a component (wasi:http/proxy, wasi:cli/command) to upload; makes a new version",
    )
    .option(
      "--image <ref>",
      "an OCI image holding the module (host/repo:tag or @sha256:...); makes a new version",
    )
    .addOption(new Option("--contract <contract>", "how requests reach the module").choices(CONTRACT_NAMES))
    .option("--arg <arg>", "argument passed to the module after argv[0] (repeatable)", collect)
    .option("--env <KEY=VALUE>", "environment variable (repeatable)", collect)
    .option("--timeout <ms>", "deadline of one invocation, in ms", positiveInt)
    .option("--memory <MiB>", "cap on the module's linear memory, in MiB", positiveInt)
    .option("--max-body <bytes>", "largest request body accepted", positiveInt)
    .option(
      "--concurrency <n>",
      `most invocations running at once per server process (default ${DEFAULT_LIMITS.concurrency})`,
      positiveInt,
    )
    .option(
      "--queue <n>",
      `most invocations waiting for a turn; more get 503 with Retry-After (default ${DEFAULT_LIMITS.queue})`,
      nonNegativeInt,
    )
    .option(
      "--max-output <bytes>",
      `most bytes an invocation may write to stdout; more fails it with 500 (default ${DEFAULT_LIMITS.maxOutputBytes})`,
      positiveInt,
    )
    .option(
      "--retries <n>",
      `retries of an asynchronous invocation after a 5xx, timeout or trap (default ${DEFAULT_RETRY.retries})`,
      nonNegativeInt,
    )
    .option(
      "--retry-backoff <duration>",
      "first retry delay, doubled per attempt, e.g. 500ms, 1s (default 1s)",
      duration,
    )
    .option(
      "--max-age <duration>",
      "an asynchronous invocation older than this is dead, e.g. 6h (default 6h)",
      duration,
    )
    .option(
      "--file <PATH=LOCAL>",
      "add a local file to the image at an absolute path, e.g. /data/a.txt=./a.txt (repeatable; with --code)",
      collect,
    )
    .option(
      "--dir <LOCAL[::GUEST]>",
      "put a local directory's files into the image under GUEST and preopen it by that name beside / (as wasmtime run --dir); GUEST defaults to LOCAL, a relative GUEST is a directory under /; writes go to the per-invocation overlay (repeatable; with --code)",
      collect,
    )
    .option(
      "--output-file <PATH>",
      'command functions: answer HTTP callers with this file the run writes (an absolute guest path, e.g. /out/result.wav) instead of stdout; "" clears it',
    )
    .addOption(new Option("--format <format>", "image form pushed for --code").choices(IMAGE_FORMATS))
    .option(
      "--allow-outbound <pattern>",
      "where a component may send HTTP requests: scheme://host[:port], * wildcards as Spin's allowed_outbound_hosts (repeatable; --allow-outbound '' clears)",
      collect,
    )
    .option(
      "--secret <name>",
      "a secret the function reads as files /secrets/<name>/<key> (and wasi:config/store keys <name>/<key>) (repeatable; replaces the list; --secret '' clears)",
      collect,
    )
    .option(
      "--config <name>",
      "a config the function reads as files /configs/<name>/<key> (and wasi:config/store keys <name>/<key>) (repeatable; replaces the list; --config '' clears)",
      collect,
    )
    .option(
      "--env-from-secret <VAR=NAME/KEY>",
      "an environment variable holding a secret's key, read at each invocation (repeatable; with --env-from-config replaces all such variables; '' clears)",
      collect,
    )
    .option(
      "--env-from-config <VAR=NAME/KEY>",
      "an environment variable holding a config's key, read at each invocation (repeatable, as --env-from-secret)",
      collect,
    );
}

/** `--env-from-secret VAR=db/password` and `--env-from-config VAR=app/key` → the API's `envFrom`. */
function envFrom(o: FunctionOptions): UpdateFunctionInput["envFrom"] {
  if (o.envFromSecret === undefined && o.envFromConfig === undefined) return undefined;
  const out: NonNullable<UpdateFunctionInput["envFrom"]> = {};
  for (const kind of ["secret", "config"] as const) {
    const option = `--env-from-${kind}`;
    for (const p of (kind === "secret" ? o.envFromSecret : o.envFromConfig) ?? []) {
      if (p === "") continue;
      const i = p.indexOf("=");
      const ref = i > 0 ? parseValueRef(kind, p.slice(i + 1)) : undefined;
      if (ref === undefined)
        throw new WasmletError("INVALID_ARGUMENT", `${option}: "${p}" must look like VAR=NAME/KEY`);
      if (Object.hasOwn(out, p.slice(0, i)))
        throw new WasmletError("INVALID_ARGUMENT", `${option}: variable ${p.slice(0, i)} is given twice`);
      out[p.slice(0, i)] = ref;
    }
  }
  return out;
}

/** The bytes of --code, sent as they are (not base64 in the JSON: a 30 MB module is ~0.2 s less for the server). */
function codeOf(o: FunctionOptions): Uint8Array | undefined {
  if (o.code === undefined) return undefined;
  try {
    return readFileSync(o.code);
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `--code: cannot read ${o.code}: ${(e as Error).message}`);
  }
}

function toInput(o: FunctionOptions): UpdateFunctionInput {
  if (o.code !== undefined && o.image !== undefined)
    throw new WasmletError("INVALID_ARGUMENT", "--code and --image cannot be used together");
  const input: UpdateFunctionInput = {};
  if (o.image !== undefined) input.image = o.image;
  if (o.file !== undefined) input.files = readImageFiles(o.file);
  if (o.dir !== undefined) input.dirs = o.dir.map(readDirOption);
  if (o.outputFile !== undefined) input.outputFile = o.outputFile === "" ? null : o.outputFile;
  if (o.format !== undefined) input.format = o.format;
  if (o.contract !== undefined) input.contract = o.contract;
  if (o.arg !== undefined) input.args = o.arg;
  if (o.allowOutbound !== undefined) input.allowOutbound = o.allowOutbound.filter((p) => p !== "");
  const env = keyValues(o.env, "=", "--env");
  if (env !== undefined) input.env = env;
  if (o.secret !== undefined) input.secrets = o.secret.filter((n) => n !== "");
  if (o.config !== undefined) input.configs = o.config.filter((n) => n !== "");
  const fromValues = envFrom(o);
  if (fromValues !== undefined) input.envFrom = fromValues;
  const limits = {
    timeoutMs: o.timeout,
    memoryMiB: o.memory,
    maxBodyBytes: o.maxBody,
    concurrency: o.concurrency,
    queue: o.queue,
    maxOutputBytes: o.maxOutput,
  };
  if (Object.values(limits).some((v) => v !== undefined)) input.limits = limits;
  const retry = { retries: o.retries, backoffMs: o.retryBackoff, maxAgeMs: o.maxAge };
  if (Object.values(retry).some((v) => v !== undefined)) input.retry = retry;
  return input;
}

/** `--file /abs/path=./local` pairs → the API's `files` (path → base64); the server checks the paths. */
export function readImageFiles(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0)
      throw new WasmletError("INVALID_ARGUMENT", `--file: "${p}" must look like /path/in/image=./local-file`);
    const [target, local] = [p.slice(0, i), p.slice(i + 1)];
    try {
      out[target] = readFileSync(local).toString("base64");
    } catch (e) {
      throw new WasmletError("INVALID_ARGUMENT", `--file: cannot read ${local}: ${(e as Error).message}`);
    }
  }
  return out;
}

interface TestOptions {
  name: string;
  method?: string;
  body?: string;
  bodyFile?: string;
  header?: string[];
  path: string;
  out?: string;
}

/** The request `fn test` sends, from its options. */
function testRequest(o: TestOptions): InvokeOptions {
  if (o.body !== undefined && o.bodyFile !== undefined)
    throw new WasmletError("INVALID_ARGUMENT", "--body and --body-file cannot be used together");
  let body: Uint8Array | string | undefined = o.body;
  if (o.bodyFile !== undefined) {
    try {
      body = readFileSync(o.bodyFile);
    } catch (e) {
      throw new WasmletError(
        "INVALID_ARGUMENT",
        `--body-file: cannot read ${o.bodyFile}: ${(e as Error).message}`,
      );
    }
  }
  const q = o.path.indexOf("?");
  return {
    method: (o.method ?? (body === undefined ? "GET" : "POST")).toUpperCase(),
    path: q < 0 ? o.path : o.path.slice(0, q),
    query: q < 0 ? "" : o.path.slice(q + 1),
    headers: keyValues(o.header, ":", "--header"),
    body,
  };
}

/**
 * `fn test` of a command function, like running the program: its stdout to stdout, its stderr to stderr, its exit
 * code as ours (1 with the reason when it trapped or timed out), and with --out the files it wrote.
 */
async function testCommand(cmd: Command, fn: FunctionRecord, o: TestOptions): Promise<void> {
  const out = o.out === undefined ? undefined : outTarget(fn, o.out);
  const run = await clientOf(cmd).runFunction(o.name, { ...testRequest(o), collect: out?.guest });
  process.stdout.write(run.stdout);
  process.stderr.write(run.stderr);
  if (out !== undefined) writeCollected(run.files, out);
  if (run.error !== undefined) process.stderr.write(`error: ${run.error}\n`);
  process.exitCode = run.exitCode !== 0 ? run.exitCode : run.status >= 200 && run.status <= 299 ? 0 : 1;
}

/**
 * `--out LOCAL[::GUEST]`: where to write, and which preopen to collect: the one named, else the function's only
 * `--dir`, else "/" (where a tool run as `tool -o out.wav` writes, its working directory being "/").
 */
function outTarget(fn: FunctionRecord, spec: string): { local: string; guest: string } {
  const sep = spec.indexOf("::");
  const local = sep < 0 ? spec : spec.slice(0, sep);
  const dirs = fn.current.dirs ?? [];
  if (local === "") throw new WasmletError("INVALID_ARGUMENT", `--out: "${spec}" names no local directory`);
  if (sep >= 0) return { local, guest: spec.slice(sep + 2) };
  if (dirs.length <= 1) return { local, guest: dirs[0] ?? "/" };
  throw new WasmletError(
    "INVALID_ARGUMENT",
    `--out: function ${fn.name} preopens ${dirs.join(", ")} beside /; say which with --out ${local}::NAME`,
  );
}

/** Writes each collected file under `out.local`, at its path relative to the collected directory. */
function writeCollected(files: Map<string, Uint8Array>, out: { local: string; guest: string }): void {
  const base = preopenPath(out.guest);
  for (const [path, bytes] of files) {
    const rel = path === base ? basename(path) : path.slice(base === "/" ? 1 : base.length + 1);
    if (rel === "" || rel.split("/").some((s) => s === ".." || s === "." || s === ""))
      throw new WasmletError("INTERNAL", `--out: the server returned an unexpected path ${path}`);
    const target = join(out.local, ...rel.split("/"));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, bytes);
  }
}

function describeVersion(fn: FunctionRecord): string {
  return `version ${fn.current.version}, ${fn.current.image}, digest ${shortDigest(fn.current.digest)}`;
}

/**
 * The last `lines` log lines of a function, waiting briefly for the entry of the invocation that just ended:
 * the runtime writes logs in batches, a little after the response. On one node an entry newer than `newerThan`
 * is it; on a cluster (entries name their node) log ids are per node, so only its invocation id tells.
 */
async function lastLogLines(
  cmd: Command,
  name: string,
  after: { newerThan: number; invocation?: string },
  lines: number,
): Promise<string[]> {
  const client = clientOf(cmd);
  const deadline = Date.now() + 1500;
  for (;;) {
    const entries = await client.readLogs(name, { limit: lines });
    const last = entries.at(-1);
    const arrived =
      (after.invocation !== undefined && entries.some((e) => e.invocationId === after.invocation)) ||
      (last !== undefined && last.node === undefined && last.id > after.newerThan);
    if (arrived || Date.now() > deadline) return entries.flatMap(formatLogEntry).slice(-lines);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function registerFn(program: Command): void {
  const fn = program.command("fn").description(NOUN_HELP.fn);

  addSourceOptions(
    addFunctionOptions(
      fn.command("create").description("create a function from a .wasm file, an image or source (--src)"),
    ),
  ).action(async (o: FunctionOptions, cmd: Command) => {
    if (o.spec && (o.file !== undefined || o.format !== undefined))
      throw new WasmletError(
        "INVALID_ARGUMENT",
        "--file and --format cannot be used with --spec (a spec names one module)",
      );
    if (o.src !== undefined || o.spec) return createFromSource(cmd, o, toInput);
    if (o.code === undefined && o.image === undefined)
      throw new WasmletError("INVALID_ARGUMENT", "one of --code or --image is required");
    const input: CreateFunctionInput = { name: o.name, ...toInput(o) };
    const created = await clientOf(cmd).createFunction(input, codeOf(o));
    print(`function "${created.name}" created (${describeVersion(created)})`);
  });

  fn.command("get")
    .description("show a function")
    .requiredOption("--name <name>", "function name")
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .action(async (o: { name: string; output: OutputFormat }, cmd: Command) => {
      printResource(await clientOf(cmd).getFunction(o.name), o.output, toYaml);
    });

  fn.command("list")
    .description("list functions")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listFunctions();
      print(
        table(
          ["NAME", "CONTRACT", "VERSION", "DIGEST", "IMAGE"],
          items.map((f) => [
            f.name,
            f.contract,
            String(f.current.version),
            shortDigest(f.current.digest),
            f.current.image,
          ]),
        ),
      );
    });

  addSourceOptions(
    addFunctionOptions(
      fn
        .command("update")
        .description("change a function's settings; --code, --image or --src makes a new version"),
    ),
  ).action(async (o: FunctionOptions, cmd: Command) => {
    if (o.src !== undefined) return updateFromSource(cmd, o, toInput);
    const updated = await clientOf(cmd).updateFunction(o.name, toInput(o), codeOf(o));
    print(`function "${updated.name}" updated (${describeVersion(updated)})`);
  });

  registerFnVersions(fn);

  fn.command("delete")
    .description("delete a function (its routes must be deleted first)")
    .requiredOption("--name <name>", "function name")
    .action(async (o: { name: string }, cmd: Command) => {
      await clientOf(cmd).deleteFunction(o.name);
      print(`function "${o.name}" deleted`);
    });

  fn.command("test")
    .description(
      "run a function once: a command function's stdout and stderr are printed and its exit code is wasmlet's; a wagi function's response body is printed",
    )
    .requiredOption("--name <name>", "function name")
    .option("--method <method>", "HTTP method (default GET, or POST when a body is given)")
    .option("--body <text>", "request body (a command's stdin)")
    .option("--body-file <file>", "read the request body from a file")
    .option("--header <K:V>", "request header (repeatable)", collect)
    .option(
      "--path <path>",
      "path (and ?query; a command's extra args as ?arg=a&arg=b) the function sees",
      "/",
    )
    .option(
      "--out <LOCAL[::GUEST]>",
      "command functions: write the files the run wrote under the preopened directory GUEST into LOCAL (default: the function's only --dir, else /)",
    )
    .action(async (o: TestOptions, cmd: Command) => {
      const client = clientOf(cmd);
      const fn = await client.getFunction(o.name);
      if (fn.contract === "command") return testCommand(cmd, fn, o);
      if (o.out !== undefined)
        throw new WasmletError("INVALID_ARGUMENT", "--out: only a command function's files can be returned");
      const lastId = (await client.readLogs(o.name, { limit: 1 })).at(-1)?.id ?? 0;
      const res = await client.invoke(o.name, testRequest(o));
      process.stdout.write(res.body);
      if (res.status < 200 || res.status > 299) {
        const invocation = res.headers.find(([k]) => k === INVOCATION_ID_HEADER)?.[1];
        const lines = await lastLogLines(cmd, o.name, { newerThan: lastId, invocation }, 10).catch(() => []);
        process.stderr.write(`error: function ${o.name} returned ${res.status}\n`);
        for (const l of lines.slice(-10)) process.stderr.write(`${l}\n`);
        process.exitCode = 1;
      }
    });

  fn.command("manifest")
    .description("print Kubernetes YAML that runs the function's image with crun's wasm handler")
    .requiredOption("--name <name>", "function name")
    .addOption(
      new Option("--kind <kind>", "object to print").choices(["pod", "job", "deployment"]).default("pod"),
    )
    .option(
      "--runtime-class <name>",
      "runtimeClassName of the pod (crun-wasm clusters usually name one, e.g. crun)",
    )
    .action(async (o: { name: string; kind: string; runtimeClass?: string }, cmd: Command) => {
      print(await clientOf(cmd).functionManifest(o.name, { kind: o.kind, runtimeClass: o.runtimeClass }));
    });

  fn.command("logs")
    .description(
      "show a function's invocations (one line each, then its stderr); on a cluster, of every node, each line naming its node (a warning names the nodes that did not answer)",
    )
    .requiredOption("--name <name>", "function name")
    .option("-f, --follow", "keep printing new invocations as they come")
    .option("--limit <n>", "how many recent invocations to show", positiveInt, 20)
    .option("--invocation <id>", "only the invocation with this id (X-Wasmlet-Invocation-Id of its response)")
    .action(
      async (o: { name: string; follow?: boolean; limit: number; invocation?: string }, cmd: Command) => {
        const client = clientOf(cmd);
        let page = await client.readLogPage(o.name, { limit: o.limit, invocation: o.invocation });
        let last = 0;
        let dropped = 0;
        let warned = "";
        for (;;) {
          for (const e of page.items) {
            for (const l of formatLogEntry(e)) print(l);
            last = e.id;
          }
          // Nodes of a cluster that did not answer: warned once per change of the set, not at every poll.
          const missing = (page.unreachable ?? []).map((u) => u.node).join(",");
          if (missing !== warned) warnPartial(page);
          warned = missing;
          // A count, not entries: records the server's log writer could not keep up with are gone.
          if (page.dropped > dropped)
            print(
              `(${page.dropped - dropped} ${dropped > 0 ? "more " : ""}invocation records dropped under load)`,
            );
          dropped = page.dropped;
          if (!o.follow) return;
          await new Promise((r) => setTimeout(r, 300));
          // On a cluster ids are per node: the page's cursor holds each node's position.
          const from = page.cursor === undefined ? { after: last } : { cursor: page.cursor };
          page = await client.readLogPage(o.name, { ...from, limit: 1000, invocation: o.invocation });
        }
      },
    );
}
