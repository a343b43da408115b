import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import type { z } from "zod";
import {
  DEPLOYMENT_KIND,
  docSchema,
  type LoadedSpec,
  SPEC_KINDS,
  SPEC_SCHEMAS,
  type SpecKind,
} from "./types.js";

/** What specs/ holds: valid documents, the deployment name, and every problem found (file and field named). */
export interface LoadedSpecs {
  dir: string;
  /** The folder holding specs/: package sources are relative to it. */
  root: string;
  deployment: string;
  specs: LoadedSpec[];
  errors: string[];
}

function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out;
}

function issues(error: z.ZodError, prefix: string): string[] {
  return error.issues.flatMap((iss) => {
    if (iss.code === "unrecognized_keys")
      return iss.keys.map(
        (k) => `${fieldPath([prefix, ...iss.path, k].filter((x) => x !== ""))}: unknown field`,
      );
    const where = fieldPath([prefix, ...iss.path].filter((x) => x !== "")) || "document";
    const message = iss.input === undefined && iss.code === "invalid_type" ? "is required" : iss.message;
    return [`${where}: ${message}`];
  });
}

/** A deployment name from the project folder's name, when specs/ has no DeploymentConfig. */
function defaultDeployment(root: string): string {
  const n = basename(root)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
  return n || "default";
}

/** Reads and validates every *.yaml / *.yml document in `dir` (not below it); never throws on bad content. */
export async function loadSpecs(dir: string): Promise<LoadedSpecs> {
  const abs = resolve(dir);
  const root = dirname(abs);
  const out: LoadedSpecs = { dir: abs, root, deployment: defaultDeployment(root), specs: [], errors: [] };
  if (!existsSync(abs)) {
    out.errors.push(`${dir}: no such directory (run "wasmlet spec init" first)`);
    return out;
  }
  const files = (await readdir(abs)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const seen = new Map<string, string>();
  for (const f of files) {
    const file = relative(process.cwd(), join(abs, f)) || f;
    const text = await readFile(join(abs, f), "utf8");
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        for (const e of doc.errors)
          out.errors.push(`${file}:${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`);
        continue;
      }
      const value = doc.toJS() as unknown;
      if (value === null || value === undefined) continue;
      const head = docSchema.safeParse(value);
      if (!head.success) {
        for (const m of issues(head.error, "")) out.errors.push(`${file}: ${m}`);
        continue;
      }
      const { kind, metadata } = head.data;
      if (kind === DEPLOYMENT_KIND) {
        out.deployment = metadata.name;
        continue;
      }
      if (kind === "Secret") {
        out.errors.push(
          `${file}: kind: Secret: secret values never go into specs; create the secret with \`wasmlet secret create --name ${metadata.name} --from-literal KEY=VALUE\` and name it in a Function's spec.secrets`,
        );
        continue;
      }
      if (!(SPEC_KINDS as readonly string[]).includes(kind)) {
        out.errors.push(
          `${file}: kind: unknown kind "${kind}" (use ${[...SPEC_KINDS, DEPLOYMENT_KIND].join(", ")})`,
        );
        continue;
      }
      const where = `${file}: ${kind} "${metadata.name}"`;
      const spec = SPEC_SCHEMAS[kind as SpecKind].safeParse(head.data.spec ?? {});
      if (!spec.success) {
        for (const m of issues(spec.error, "spec")) out.errors.push(`${where}: ${m}`);
        continue;
      }
      const key = `${kind}/${metadata.name}`;
      const other = seen.get(key);
      if (other) {
        out.errors.push(`${where}: metadata.name: also defined in ${other}`);
        continue;
      }
      seen.set(key, file);
      out.specs.push({ ...head.data, kind, spec: spec.data, file } as LoadedSpec);
    }
  }
  checkSemantics(out);
  return out;
}

/** Rules across fields and documents: one source per resource, references to resources that exist in specs/. */
function checkSemantics(out: LoadedSpecs): void {
  const has = (kind: SpecKind, name: string) =>
    out.specs.some((s) => s.kind === kind && s.metadata.name === name);
  for (const s of out.specs) {
    const where = `${s.file}: ${s.kind} "${s.metadata.name}"`;
    const err = (m: string) => out.errors.push(`${where}: ${m}`);
    switch (s.kind) {
      case "Package": {
        const { builder, environment, source } = s.spec;
        if ((builder === undefined) === (environment === undefined))
          err("spec.builder: exactly one of builder or environment is required");
        if (environment !== undefined && !has("Environment", environment))
          err(
            `spec.environment: environment "${environment}" is not defined in ${relative(process.cwd(), out.dir) || "."}`,
          );
        if (!existsSync(resolve(out.root, source)))
          err(
            `spec.source: ${source} does not exist (paths are relative to ${relative(process.cwd(), out.root) || "."})`,
          );
        break;
      }
      case "Function": {
        const { package: pkg, image, code } = s.spec;
        if ([pkg, image, code].filter((x) => x !== undefined).length !== 1)
          err("spec.package: exactly one of package, image or code is required");
        if (code !== undefined && !existsSync(resolve(out.root, code)))
          err(
            `spec.code: ${code} does not exist (paths are relative to ${relative(process.cwd(), out.root) || "."})`,
          );
        if (pkg !== undefined && !has("Package", pkg))
          err(`spec.package: package "${pkg}" is not defined in ${relative(process.cwd(), out.dir) || "."}`);
        break;
      }
      case "HTTPTrigger": {
        const { url, prefix, function: fn, weights } = s.spec;
        if ((url === undefined) === (prefix === undefined))
          err("spec.url: exactly one of url or prefix is required");
        for (const [field, f] of [
          ["function", fn],
          ...Object.keys(weights ?? {}).map((w) => [`weights.${w}`, w]),
        ])
          if (!has("Function", f))
            err(
              `spec.${field}: function "${f}" is not defined in ${relative(process.cwd(), out.dir) || "."}`,
            );
        if (weights && !Object.hasOwn(weights, fn))
          err(`spec.function: "${fn}" must be one of the weighted functions`);
        break;
      }
      case "TimeTrigger":
      case "MessageQueueTrigger":
        if (!has("Function", s.spec.function))
          err(
            `spec.function: function "${s.spec.function}" is not defined in ${relative(process.cwd(), out.dir) || "."}`,
          );
        break;
      case "Environment":
        break;
    }
  }
}
