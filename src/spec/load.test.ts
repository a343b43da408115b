import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, test } from "node:test";
import { loadSpecs } from "./load.js";
import { specDocument, writeSpec } from "./write.js";

let root: string;
let dir: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "wasmlet-spec-"));
});
after(() => rm(root, { recursive: true, force: true }));

/** A fresh project folder with specs/ holding `files`. */
async function project(files: Record<string, string>): Promise<string> {
  const p = join(root, `p${n++}`);
  dir = join(p, "specs");
  await writeSpec(dir, specDocument("Environment", "placeholder", { builder: "c" }));
  await rm(join(dir, "env-placeholder.yaml"));
  await writeFile(join(p, "hello.c"), "int main(){return 0;}\n");
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

const doc = (kind: string, name: string, spec: string) =>
  `apiVersion: wasmlet.dev/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec}`;

test("written specs load back as they were written, with the deployment name", async () => {
  const d = await project({
    "wasmlet-deployment.yaml":
      "apiVersion: wasmlet.dev/v1\nkind: DeploymentConfig\nmetadata:\n  name: demo\n",
  });
  await writeSpec(d, specDocument("Package", "hello", { source: "hello.c", builder: "c" }));
  await writeSpec(d, specDocument("Function", "hello", { package: "hello", args: ["x"] }));
  await writeSpec(
    d,
    specDocument("HTTPTrigger", "hello", { function: "hello", url: "/hello", methods: ["GET"] }),
  );
  const loaded = await loadSpecs(d);
  assert.deepEqual(loaded.errors, []);
  assert.equal(loaded.deployment, "demo");
  assert.deepEqual(loaded.specs.map((s) => `${s.kind}/${s.metadata.name}`).sort(), [
    "Function/hello",
    "HTTPTrigger/hello",
    "Package/hello",
  ]);
  const fn = loaded.specs.find((s) => s.kind === "Function");
  assert.deepEqual(fn?.spec, { package: "hello", args: ["x"] });
});

test("every problem is reported with its file and field", async () => {
  const d = await project({
    "a.yaml": [
      doc("Thing", "x", "  a: 1\n"),
      doc("Function", "f", "  package: p\n  colour: red\n"),
      doc("HTTPTrigger", "r", "  function: ghost\n  url: /g\n"),
      doc("Package", "p", "  source: missing.c\n  builder: c\n"),
      doc("Package", "q", "  source: hello.c\n"),
    ].join("---\n"),
    "b.yml": doc("Function", "g", "  package: nope\n  limits:\n    memoryMiB: -1\n"),
    "c.yaml": "apiVersion: wasmlet.dev/v2\nkind: Function\nmetadata:\n  name: Bad_Name\n",
    "d.yaml": "kind: Function\n  bad: [indent\n",
    "e.yaml": doc("HTTPTrigger", "r", "  function: f\n  url: /x\n"),
  });
  const { errors } = await loadSpecs(d);
  const rel = (f: string) => relative(process.cwd(), join(d, f));
  const expect = [
    `${rel("a.yaml")}: kind: unknown kind "Thing"`,
    `${rel("a.yaml")}: Function "f": spec.colour: unknown field`,
    `${rel("a.yaml")}: HTTPTrigger "r": spec.function: function "ghost" is not defined`,
    `${rel("a.yaml")}: Package "p": spec.source: missing.c does not exist`,
    `${rel("a.yaml")}: Package "q": spec.builder: exactly one of builder or environment is required`,
    `${rel("b.yml")}: Function "g": spec.limits.memoryMiB:`,
    `${rel("c.yaml")}: apiVersion: must be wasmlet.dev/v1`,
    `${rel("c.yaml")}: metadata.name: must be a valid name`,
    `${rel("d.yaml")}:`,
    `${rel("e.yaml")}: HTTPTrigger "r": metadata.name: also defined in ${rel("a.yaml")}`,
  ];
  for (const e of expect)
    assert.ok(
      errors.some((x) => x.startsWith(e)),
      `missing: ${e}\ngot:\n${errors.join("\n")}`,
    );
  // b.yml's function fails its schema, so its reference is not checked; d.yaml's YAML errors may be several.
  const others = errors.filter((x) => !x.startsWith(rel("d.yaml")));
  assert.equal(others.length, expect.length - 1, errors.join("\n"));
});

test("a missing spec directory says how to create it", async () => {
  const { errors } = await loadSpecs(join(root, "nowhere", "specs"));
  assert.match(errors[0], /no such directory \(run "wasmlet spec init" first\)/);
});

test("a Function spec may name the outputFile HTTP callers get as the body", async () => {
  const d = await project({});
  await writeSpec(d, specDocument("Function", "tool", { image: "reg/tool:1", outputFile: "/out/r.wav" }));
  const loaded = await loadSpecs(d);
  assert.deepEqual(loaded.errors, []);
  assert.deepEqual(loaded.specs[0]?.spec, { image: "reg/tool:1", outputFile: "/out/r.wav" });
});
