import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { WasmletError } from "../core/index.js";
import type { LoadedSpecs } from "../spec/index.js";
import { reportFailure, waitForBuild } from "./build-progress.js";
import { clientOf, loadSpec, print } from "./common.js";
import { NOUN_HELP } from "./nouns.js";
import { table } from "./output.js";

const README = `Wasmlet specs: YAML for environments, packages, functions and routes; "wasmlet spec apply" makes the server match them.\n`;

/** Loads specs/ and fails with every problem (file and field named) when any is found. */
async function loadValid(dir: string): Promise<LoadedSpecs> {
  const specs = await (await loadSpec()).loadSpecs(dir);
  if (specs.errors.length > 0) {
    for (const e of specs.errors) process.stderr.write(`${e}\n`);
    throw new WasmletError(
      "INVALID_ARGUMENT",
      `${dir}: ${specs.errors.length} problem${specs.errors.length === 1 ? "" : "s"} found`,
    );
  }
  return specs;
}

export function registerSpec(program: Command): void {
  const spec = program.command("spec").description(NOUN_HELP.spec);
  const dirOption = (c: Command) => c.option("--specdir <dir>", "spec directory", "specs");

  dirOption(
    spec.command("init").description("create the spec directory with a deployment config and a README"),
  )
    .option("--deployment <name>", "deployment name (default: the project folder's name)")
    .action(async (o: { specdir: string; deployment?: string }) => {
      const { API_VERSION, DEPLOYMENT_FILE, DEPLOYMENT_KIND } = await loadSpec();
      const dir = o.specdir;
      const file = join(dir, DEPLOYMENT_FILE);
      if (existsSync(file)) throw new WasmletError("ALREADY_EXISTS", `${file} already exists`);
      await mkdir(dir, { recursive: true });
      const project = basename(resolve(dir, ".."))
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 50);
      const name = o.deployment ?? `${project || "specs"}-${randomBytes(3).toString("hex")}`;
      await writeFile(
        file,
        (await import("yaml")).stringify({
          apiVersion: API_VERSION,
          kind: DEPLOYMENT_KIND,
          metadata: { name },
          spec: {},
        }),
      );
      if (!existsSync(join(dir, "README"))) await writeFile(join(dir, "README"), README);
      print(`created ${dir}/ (deployment "${name}"); add specs with --spec on fn/pkg/env/route create`);
    });

  dirOption(
    spec
      .command("validate")
      .description("check every spec file; prints each problem with its file and field"),
  ).action(async (o: { specdir: string }) => {
    const specs = await loadValid(o.specdir);
    print(`${o.specdir}: ${specs.specs.length} resource${specs.specs.length === 1 ? "" : "s"}, no problems`);
  });

  dirOption(spec.command("apply").description("create or update what changed in specs/, in dependency order"))
    .option("--delete", "also delete resources this deployment created that are gone from specs/")
    .option("--wait", "wait for the package builds it starts")
    .action(async (o: { specdir: string; delete?: boolean; wait?: boolean }, cmd: Command) => {
      const specs = await loadValid(o.specdir);
      const client = clientOf(cmd);
      const r = await (await loadSpec()).applySpecs(
        client,
        specs,
        { log: print, waitForBuild: (name, gen) => waitForBuild(client, name, gen) },
        { delete: o.delete, wait: o.wait },
      );
      for (const p of r.failed) reportFailure(p);
    });

  dirOption(spec.command("destroy").description("delete every resource this deployment created")).action(
    async (o: { specdir: string }, cmd: Command) => {
      const { loadSpecs, destroySpecs } = await loadSpec();
      const specs = await loadSpecs(o.specdir);
      const n = await destroySpecs(clientOf(cmd), specs.deployment, print);
      print(`deployment "${specs.deployment}": ${n} resource${n === 1 ? "" : "s"} deleted`);
    },
  );

  dirOption(spec.command("list").description("list the specs and whether each is applied")).action(
    async (o: { specdir: string }, cmd: Command) => {
      const specs = await loadValid(o.specdir);
      const rows = await (await loadSpec()).specStates(clientOf(cmd), specs);
      print(
        table(
          ["KIND", "NAME", "FILE", "STATE"],
          rows.map((r) => [r.kind, r.name, r.file, r.state]),
        ),
      );
    },
  );
}
