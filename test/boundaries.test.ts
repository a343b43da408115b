// The "may import" table of docs/ARCHITECTURE.md, checked against every import in src/: a folder imports
// another only if the table says so, and only through its door (`index.ts`; tests may also use the folder's
// `test-support.ts`). A subfolder with its own index.ts (runtime/wasi) is a door too, for its siblings.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SRC = join(ROOT, "src");

interface Rule {
  /** Folders whose code may be loaded. */
  values: Set<string>;
  /** Folders whose types may be named (`import type`), besides `values`. */
  types: Set<string>;
  everything: boolean;
}

/** Reads the Layout table: `| folder/ | purpose | may import |`, names separated by commas, notes in (). */
function readTable(): Map<string, Rule> {
  const doc = readFileSync(join(ROOT, "docs/ARCHITECTURE.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Layout (src/)"));
  const rules = new Map<string, Rule>();
  for (const line of section.split("\n")) {
    const m = /^\| ([a-z-]+)\/ \|[^|]*\| ([^|]+) \|$/.exec(line);
    if (!m) continue;
    const rule: Rule = { values: new Set(), types: new Set(), everything: m[2].trim() === "everything" };
    for (const part of m[2].split(/,(?![^(]*\))/)) {
      const name = part.trim().split(/[ (]/)[0];
      if (!name || name === "nothing" || name === "everything") continue;
      (/\(types only\)/.test(part) ? rule.types : rule.values).add(name);
    }
    rules.set(m[1], rule);
  }
  return rules;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

const isTestFile = (p: string) => /(\.test|\.contract|[/\\]test-support)\.ts$/.test(p);

interface Import {
  spec: string;
  typeOnly: boolean;
}

function importsOf(code: string): Import[] {
  const out: Import[] = [];
  const re = /(?:^|\n)\s*(import|export)(\s+type)?\s[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    if (m[4]) out.push({ spec: m[4], typeOnly: false });
    else out.push({ spec: m[3], typeOnly: Boolean(m[2]) });
  }
  return out;
}

/** Problems with one import from `file` to `target` (both absolute, target a .ts path). */
function check(
  rules: Map<string, Rule>,
  file: string,
  target: string,
  typeOnly: boolean,
): string | undefined {
  const from = relative(SRC, file).split(/[/\\]/);
  const to = relative(SRC, target).split(/[/\\]/);
  if (to[0] === ".." || to.length < 2) return undefined; // outside src/ (tests' own helpers)
  let k = 0;
  while (k < to.length - 1 && k < from.length - 1 && from[k] === to[k]) k++;
  if (k < to.length - 1) {
    // Crosses into folder to[0..k]: through its door.
    const door = join(SRC, ...to.slice(0, k + 1));
    const allowed = [join(door, "index.ts"), ...(isTestFile(file) ? [join(door, "test-support.ts")] : [])];
    if (existsSync(join(door, "index.ts")) && !allowed.includes(target))
      return `bypasses the door of ${to.slice(0, k + 1).join("/")}/ (import its index.ts)`;
  }
  if (from[0] === to[0] || isTestFile(file)) return undefined;
  const rule = rules.get(from[0]);
  if (!rule) return `folder ${from[0]}/ is not in the table`;
  if (rule.everything || rule.values.has(to[0]) || (typeOnly && rule.types.has(to[0]))) return undefined;
  return `${from[0]}/ may not import ${to[0]}/${rule.types.has(to[0]) ? " (types only)" : ""}`;
}

test("every import in src/ keeps to the may-import table of docs/ARCHITECTURE.md and goes through doors", () => {
  const rules = readTable();
  assert.ok(rules.size >= 10, "the Layout table was found");
  const problems: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const folder = relative(SRC, file).split(/[/\\]/)[0];
    if (!rules.has(folder) && !file.endsWith(".d.ts")) problems.push(`${folder}/: not in the Layout table`);
    for (const imp of importsOf(readFileSync(file, "utf8"))) {
      if (!imp.spec.startsWith(".")) continue;
      const target = resolve(dirname(file), imp.spec).replace(/\.js$/, ".ts");
      const why = check(rules, file, target, imp.typeOnly);
      if (why) problems.push(`${relative(ROOT, file)} → ${imp.spec}: ${why}`);
    }
  }
  assert.deepEqual([...new Set(problems)], []);
});

test("the checker itself refuses a bypass, a forbidden folder and a value import of a types-only folder", () => {
  const rules = new Map<string, Rule>([
    ["cli", { values: new Set(["core", "client"]), types: new Set(["api"]), everything: false }],
  ]);
  const f = join(SRC, "cli/x.ts");
  assert.match(check(rules, f, join(SRC, "client/client.ts"), false) ?? "", /door of client/);
  assert.equal(check(rules, f, join(SRC, "client/index.ts"), false), undefined);
  assert.match(check(rules, f, join(SRC, "registry/index.ts"), false) ?? "", /may not import registry/);
  assert.match(check(rules, f, join(SRC, "api/index.ts"), false) ?? "", /types only/);
  assert.equal(check(rules, f, join(SRC, "api/index.ts"), true), undefined);
});
