import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import type { UpdateFunctionInput } from "../client/index.js";
import { builderForSource, WasmletError } from "../core/index.js";
import { reportFailure, sourceArchive, waitForBuild, waitForFunction } from "./build-progress.js";
import { clientOf, loadSpec, print } from "./common.js";
import { shortDigest, table } from "./output.js";
import { relativeToRoot } from "./pkg.js";

/** Copies a module into the specs folder as `<function>.wasm`; refuses what is not a wasm module. */
async function copyModule(code: string, specdir: string, name: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(code);
  } catch (e) {
    throw new WasmletError("INVALID_ARGUMENT", `--code: cannot read ${code}: ${(e as Error).message}`);
  }
  if (bytes.subarray(0, 4).toString("latin1") !== "\0asm")
    throw new WasmletError("INVALID_ARGUMENT", `--code: ${code} is not a WebAssembly module (bad magic)`);
  await mkdir(specdir, { recursive: true });
  const to = join(specdir, `${name}.wasm`);
  await writeFile(to, bytes);
  return to;
}

/** What `fn create/update --src` reads besides the function's own settings. */
export interface SourceOptions {
  name: string;
  src?: string;
  builder?: string;
  /** `--env NAME` (no `=`) or `--environment NAME`: an environment; `--env K=V` stays a variable. */
  environment?: string;
  env?: string[];
  buildcmd?: string;
  wait: boolean;
  spec?: boolean;
  specdir: string;
  code?: string;
  image?: string;
}

type Settings = Omit<UpdateFunctionInput, "code" | "image" | "fileName" | "files" | "dirs" | "format">;

/** The options `fn create` and `fn update` take for building from source. */
export function addSourceOptions(cmd: Command): Command {
  return cmd
    .option("--src <path>", "source file or directory to build on the server (.c, .rs, .ts, a Cargo project)")
    .option(
      "--builder <builder>",
      "toolchain for --src: assemblyscript, c or rust (default: from the file extension)",
    )
    .option("--environment <name>", "environment (builder preset) for --src; --env NAME without = works too")
    .option("--buildcmd <command>", "build command for --src (must leave the module at out.wasm)")
    .option("--no-wait", "with --src: return once the source is uploaded")
    .option("--spec", "write the spec YAML into the spec directory instead of calling the API")
    .option("--specdir <dir>", "spec directory", "specs");
}

/** Splits `--env` values: `K=V` are variables, a bare name is an environment (Fission's `--env`). */
function splitEnv<O extends SourceOptions>(o: O): O {
  const names = (o.env ?? []).filter((e) => !e.includes("="));
  if (names.length > 1 || (names.length === 1 && o.environment !== undefined))
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--env: give one environment name, not ${[...names, o.environment].filter(Boolean).join(" and ")}`,
    );
  const vars = (o.env ?? []).filter((e) => e.includes("="));
  return { ...o, env: vars.length > 0 ? vars : undefined, environment: o.environment ?? names[0] };
}

/** The options with `--env` split (see splitEnv), and the function settings they give. */
function readOptions<O extends SourceOptions>(
  raw: O,
  toInput: (o: O) => UpdateFunctionInput,
): { o: O; settings: Settings } {
  const o = splitEnv(raw);
  if ((raw as { dir?: string[] }).dir !== undefined)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "--dir goes with --code (its files go into the uploaded module's image)",
    );
  const { contract, args, env, limits, outputFile, secrets, configs, envFrom } = toInput({
    ...o,
    code: undefined,
    image: undefined,
    src: undefined,
  });
  return { o, settings: { contract, args, env, limits, outputFile, secrets, configs, envFrom } };
}

/** --builder, --env, or the builder the source's file names call for. */
function builderChoice(o: SourceOptions, paths: string[]): { builder?: string; environment?: string } {
  if (o.builder !== undefined && o.environment !== undefined)
    throw new WasmletError("INVALID_ARGUMENT", "--builder and --env cannot be used together");
  if (o.environment !== undefined) return { environment: o.environment };
  const builder = o.builder ?? builderForSource(paths);
  if (!builder)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `--src: cannot tell the builder from ${o.src} (.c, .rs, .ts or Cargo.toml); give --builder or --env`,
    );
  return { builder };
}

/** The API's `envFrom` as a Function spec writes it: `envFromSecret`/`envFromConfig`, `VAR: name/key`. */
function specRefs(envFrom: UpdateFunctionInput["envFrom"]): {
  envFromSecret?: Record<string, string>;
  envFromConfig?: Record<string, string>;
} {
  if (envFrom === undefined) return {};
  const out: { envFromSecret?: Record<string, string>; envFromConfig?: Record<string, string> } = {};
  for (const [variable, ref] of Object.entries(envFrom)) {
    const field = ref.kind === "secret" ? "envFromSecret" : "envFromConfig";
    out[field] = { ...out[field], [variable]: `${ref.name}/${ref.key}` };
  }
  return out;
}

/**
 * Waits for build `generation` of package `pkg`, then for function `fn` to serve its digest, and prints
 * `function "<fn>" <done> (version, digest)`; a failed build is reported instead.
 */
async function waitAndReport(
  cmd: Command,
  pkg: string,
  generation: number,
  fn: string,
  done: string,
): Promise<void> {
  const client = clientOf(cmd);
  const build = await waitForBuild(client, pkg, generation);
  if (build.status === "failed") {
    reportFailure(build);
    return;
  }
  await waitForFunction(client, fn, build.digest as string);
  const f = await client.getFunction(fn);
  print(
    `function "${f.name}" ${done} (version ${f.current.version}, digest ${shortDigest(f.current.digest)})`,
  );
}

/** `fn create --src`: a package named after the function, built on the server; the function appears when it succeeds. */
export async function createFromSource<O extends SourceOptions>(
  cmd: Command,
  raw: O,
  toInput: (o: O) => UpdateFunctionInput,
): Promise<void> {
  const { o, settings: all } = readOptions(raw, toInput);
  // A spec names what the function uses of secrets and configs in its own form (envFromSecret, envFromConfig).
  const { envFrom, ...settings } = all;
  const refs = specRefs(envFrom);
  const sources = [o.src && "--src", o.code && "--code", o.image && "--image"].filter(Boolean);
  if (sources.length > 1)
    throw new WasmletError("INVALID_ARGUMENT", `${sources.join(" and ")} cannot be used together`);
  const { specDocument, writeSpec } = await loadSpec();
  if (o.spec && o.code !== undefined) {
    // The module goes into the specs folder beside its spec, so the folder is the whole, committable description.
    const written = [await copyModule(o.code, o.specdir, o.name)];
    const code = relativeToRoot(o.specdir, written[0]);
    written.push(
      await writeSpec(
        o.specdir,
        specDocument("Function", o.name, {
          code,
          ...settings,
          ...refs,
          outputFile: settings.outputFile ?? undefined,
        }),
      ),
    );
    for (const f of written) print(`wrote ${f}`);
    return;
  }
  if (o.spec && o.src === undefined) {
    if (o.image === undefined)
      throw new WasmletError("INVALID_ARGUMENT", "--spec needs --src, --code or --image");
    print(
      `wrote ${await writeSpec(o.specdir, specDocument("Function", o.name, { image: o.image, ...settings, ...refs, outputFile: settings.outputFile ?? undefined }))}`,
    );
    return;
  }
  const src = o.src as string;
  if (o.spec) {
    const root = relativeToRoot(o.specdir, src);
    const paths = (await sourceArchive(src)).paths;
    const from = builderChoice(o, paths);
    const files = [
      await writeSpec(
        o.specdir,
        specDocument("Package", o.name, { source: root, ...from, buildCommand: o.buildcmd }),
      ),
      await writeSpec(
        o.specdir,
        specDocument("Function", o.name, {
          package: o.name,
          contract: settings.contract,
          args: settings.args,
          env: settings.env,
          limits: settings.limits,
          secrets: settings.secrets,
          configs: settings.configs,
          ...refs,
          outputFile: settings.outputFile ?? undefined,
        }),
      ),
    ];
    for (const f of files) print(`wrote ${f}`);
    return;
  }
  if (settings.outputFile !== undefined)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "--output-file: set it with fn update once the function is built (or in its spec with --spec)",
    );
  if (settings.secrets !== undefined || settings.configs !== undefined || envFrom !== undefined)
    throw new WasmletError(
      "INVALID_ARGUMENT",
      "--secret, --config, --env-from-*: set them with fn update once the function is built (or in its spec with --spec)",
    );
  const { archive, fileName, paths } = await sourceArchive(src);
  const client = clientOf(cmd);
  const p = await client.createPackage({
    name: o.name,
    archive,
    fileName,
    ...builderChoice(o, paths),
    buildCommand: o.buildcmd,
    function: { name: o.name, ...settings },
  });
  if (!o.wait) {
    print(
      `function "${o.name}" will be created when package "${p.name}" is built (wasmlet pkg info --name ${p.name})`,
    );
    return;
  }
  await waitAndReport(cmd, p.name, p.generation, o.name, `created from ${src}`);
}

/** `fn update --src`: new source for the function's package (created on first use); the build makes a new version. */
export async function updateFromSource<O extends SourceOptions>(
  cmd: Command,
  raw: O,
  toInput: (o: O) => UpdateFunctionInput,
): Promise<void> {
  const { o, settings } = readOptions(raw, toInput);
  if (o.code !== undefined || o.image !== undefined)
    throw new WasmletError("INVALID_ARGUMENT", "--src cannot be used together with --code or --image");
  const src = o.src as string;
  const client = clientOf(cmd);
  const fn = await client.getFunction(o.name);
  if (Object.values(settings).some((v) => v !== undefined)) await client.updateFunction(o.name, settings);
  const { archive, fileName, paths } = await sourceArchive(src);
  const pkgName = fn.package ?? o.name;
  const existing = fn.package !== undefined;
  const from = o.builder !== undefined || o.env !== undefined || !existing ? builderChoice(o, paths) : {};
  const p = existing
    ? await client.updatePackage(pkgName, { archive, fileName, ...from, buildCommand: o.buildcmd })
    : await client.createPackage({ name: pkgName, archive, fileName, ...from, buildCommand: o.buildcmd });
  if (!existing) await client.bindFunction(pkgName, { name: o.name });
  if (!o.wait) {
    print(
      `package "${pkgName}" queued for build; function "${o.name}" gets the new version when it succeeds`,
    );
    return;
  }
  await waitAndReport(cmd, pkgName, p.generation, o.name, `updated from ${src}`);
}

/** `fn versions` and `fn rollback`. */
export function registerFnVersions(fn: Command): void {
  fn.command("versions")
    .description("list every version of a function (* marks the one serving)")
    .requiredOption("--name <name>", "function name")
    .action(async (o: { name: string }, cmd: Command) => {
      const f = await clientOf(cmd).getFunction(o.name);
      print(
        table(
          ["", "VERSION", "DIGEST", "IMAGE", "CREATED"],
          f.versions.map((v) => [
            v.version === f.current.version ? "*" : "",
            String(v.version),
            shortDigest(v.digest),
            v.image,
            v.createdAt,
          ]),
        ),
      );
    });

  fn.command("rollback")
    .description("serve an earlier version again, at once")
    .requiredOption("--name <name>", "function name")
    .option("--to <version>", "version number (default: the one before the current)", (v) => {
      if (!/^\d+$/.test(v) || Number(v) < 1)
        throw new WasmletError("INVALID_ARGUMENT", `--to: "${v}" is not a version number`);
      return Number(v);
    })
    .action(async (o: { name: string; to?: number }, cmd: Command) => {
      const f = await clientOf(cmd).rollbackFunction(o.name, o.to);
      print(
        `function "${f.name}" now serves version ${f.current.version} (digest ${shortDigest(f.current.digest)})`,
      );
    });
}
