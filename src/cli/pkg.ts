import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { type Command, Option } from "commander";
import type { PackageRecord } from "../client/index.js";
import { WasmletError } from "../core/index.js";
import { reportFailure, sourceArchive, waitForBuild } from "./build-progress.js";
import { clientOf, loadSpec, type OutputFormat, print, printResource } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { shortDigest, table, toYaml } from "./output.js";

interface PkgCreateOptions {
  name: string;
  src: string;
  builder?: string;
  env?: string;
  buildcmd?: string;
  wait: boolean;
  spec?: boolean;
  specdir: string;
}

/** Waits for the build unless --no-wait; prints the outcome (the compiler's log on failure, exit status 1). */
export async function finishBuild(
  cmd: Command,
  p: PackageRecord,
  wait: boolean,
): Promise<PackageRecord | undefined> {
  if (!wait) {
    print(`package "${p.name}" queued for build (wasmlet pkg info --name ${p.name} shows its status)`);
    return undefined;
  }
  const done = await waitForBuild(clientOf(cmd), p.name, p.generation);
  if (done.status === "failed") {
    reportFailure(done);
    return done;
  }
  print(`package "${p.name}" built (${done.builder}, digest ${shortDigest(done.digest ?? "")})`);
  return done;
}

function describe(p: PackageRecord): string {
  return toYaml({
    name: p.name,
    builder: p.builder,
    environment: p.environment,
    buildCommand: p.buildCommand,
    status: p.status,
    source: `${p.source.fileName} (${p.source.size} bytes, ${shortDigest(p.source.digest)})`,
    image: p.image,
    digest: p.digest,
    updatedAt: p.updatedAt,
  });
}

export function registerPkg(program: Command): void {
  const pkg = program.command("pkg").description(NOUN_HELP.pkg);

  pkg
    .command("create")
    .description("upload a source file or directory and build it to a wasm module")
    .requiredOption("--name <name>", "package name")
    .requiredOption("--src <path>", "source file or directory (archived as tar+gzip)")
    .option("--builder <builder>", "toolchain: assemblyscript, c or rust")
    .option("--env <environment>", "an environment (builder preset) instead of --builder")
    .option(
      "--buildcmd <command>",
      "shell command that leaves the module at out.wasm (default: the builder's)",
    )
    .option("--no-wait", "return once the source is uploaded")
    .option("--spec", "write specs/package-<name>.yaml instead of calling the API")
    .option("--specdir <dir>", "spec directory", "specs")
    .action(async (o: PkgCreateOptions, cmd: Command) => {
      if ((o.builder === undefined) === (o.env === undefined))
        throw new WasmletError("INVALID_ARGUMENT", "exactly one of --builder or --env is required");
      if (o.spec) {
        const { specDocument, writeSpec } = await loadSpec();
        const file = await writeSpec(
          o.specdir,
          specDocument("Package", o.name, {
            source: relativeToRoot(o.specdir, o.src),
            builder: o.builder,
            environment: o.env,
            buildCommand: o.buildcmd,
          }),
        );
        print(`wrote ${file}`);
        return;
      }
      const { archive, fileName } = await sourceArchive(o.src);
      const p = await clientOf(cmd).createPackage({
        name: o.name,
        archive,
        fileName,
        builder: o.builder,
        environment: o.env,
        buildCommand: o.buildcmd,
      });
      await finishBuild(cmd, p, o.wait);
    });

  pkg
    .command("info")
    .description("show a package: status, image and the last build's log")
    .requiredOption("--name <name>", "package name")
    .addOption(
      new Option("-o, --output <format>", "output format (json prints the whole record)").choices([
        "yaml",
        "json",
      ]),
    )
    .action(async (o: { name: string; output?: OutputFormat }, cmd: Command) => {
      const p = await clientOf(cmd).getPackage(o.name);
      if (o.output) return printResource(p, o.output, toYaml);
      print(describe(p));
      print(
        `buildLog: |\n${(p.buildLog || "(empty)")
          .replace(/\n$/, "")
          .split("\n")
          .map((l) => `  ${l}`)
          .join("\n")}`,
      );
    });

  pkg
    .command("list")
    .description("list packages")
    .action(async (_o: unknown, cmd: Command) => {
      const items = await clientOf(cmd).listPackages();
      print(
        table(
          ["NAME", "BUILDER", "STATUS", "SOURCE", "DIGEST", "UPDATED"],
          items.map((p) => [
            p.name,
            p.builder,
            p.status,
            p.source.fileName,
            shortDigest(p.digest ?? "-"),
            p.updatedAt,
          ]),
        ),
      );
    });

  pkg
    .command("rebuild")
    .description("build a package's stored source again")
    .requiredOption("--name <name>", "package name")
    .option("--no-wait", "return once the build is queued")
    .action(async (o: { name: string; wait: boolean }, cmd: Command) => {
      await finishBuild(cmd, await clientOf(cmd).rebuildPackage(o.name), o.wait);
    });

  pkg
    .command("getsrc")
    .description("download a package's source archive (tar+gzip)")
    .requiredOption("--name <name>", "package name")
    .option("-o, --output <file>", "where to write it (default <name>.tar.gz)")
    .action(async (o: { name: string; output?: string }, cmd: Command) => {
      const { archive } = await clientOf(cmd).getPackageSource(o.name);
      const file = o.output ?? `${o.name}.tar.gz`;
      await writeFile(file, archive);
      print(`wrote ${file} (${archive.length} bytes)`);
    });

  pkg
    .command("delete")
    .description("delete a package (refused while a function uses it)")
    .requiredOption("--name <name>", "package name")
    .option("--force", "delete even when functions use it (they keep their current image)")
    .action(async (o: { name: string; force?: boolean }, cmd: Command) => {
      await clientOf(cmd).deletePackage(o.name, o.force === true);
      print(`package "${o.name}" deleted`);
    });
}

/** A source path as a spec keeps it: relative to the project root (the folder holding the spec directory). */
export function relativeToRoot(specdir: string, src: string): string {
  const root = resolve(specdir, "..");
  const rel = resolve(src).slice(root.length + 1);
  if (!resolve(src).startsWith(`${root}/`))
    throw new WasmletError("INVALID_ARGUMENT", `--src: ${src} is outside the project folder ${root}`);
  return rel;
}
