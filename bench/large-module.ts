// A large WASI preview1 command module for BENCH=large: a C program generated here and compiled with clang
// (--target=wasm32-wasi), cached under .cache/bench-large/ by the generator's parameters, so the first run
// builds it (~10-30 s of clang on 2 cores) and later runs reuse it. Nothing of it is committed.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./procs.js";

const run = promisify(execFile);

export interface LargeModuleSpec {
  /** Distinct generated functions; each is ~7 KB of wasm code at -O0. */
  functions: number;
  /** Statements per function. */
  statements: number;
  /** Bytes of a constant lookup table the functions read (a data segment, as real programs carry). */
  tableBytes: number;
}

/** ~30 MB: 4,000 functions of 96 statements (~26 MB of code) and a 4 MiB table. */
export const LARGE_30MB: LargeModuleSpec = { functions: 4000, statements: 96, tableBytes: 4 * 1024 * 1024 };

/** Functions one call runs by default (of 4,000). */
export const DEFAULT_STEPS = 200;

/** A deterministic generator of 32-bit numbers (the program must be the same on every machine). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s;
  };
}

/** One C function of `statements` mixing steps with distinct constants, reading the table. */
function cFunction(i: number, statements: number, tableMask: number, rnd: () => number): string {
  let s = `__attribute__((noinline)) uint32_t f${i}(uint32_t x, uint32_t y) {\n`;
  for (let k = 0; k < statements; k++) {
    const c = rnd();
    switch (c % 7) {
      case 0:
        s += ` x ^= (x >> ${1 + (c % 31)}) + ${c}u;\n`;
        break;
      case 1:
        s += ` x = x * ${c | 1}u + y;\n`;
        break;
      case 2:
        s += ` if (x & ${2 ** (c % 32)}u) y += ${c}u; else y ^= x;\n`;
        break;
      case 3:
        s += ` x = (x << ${1 + (c % 31)}) | (x >> ${31 - (c % 31)});\n`;
        break;
      case 4:
        s += ` y = y * ${c | 1}u ^ x;\n`;
        break;
      case 5:
        s += ` x += table[(x ^ ${c}u) & ${tableMask}u];\n`;
        break;
      default:
        s += ` x += (y % ${1 + (c % 1000)}u);\n`;
    }
  }
  return `${s} return x ^ y;\n}\n`;
}

/**
 * Writes the program's C sources into `dir`: `parts` files of functions, a table file and main.c. The program
 * reads stdin, folds it into a seed and runs it through a chain of functions picked by the running value
 * (argv[2] of them, default DEFAULT_STEPS: ~5 % of the program's code per call, as a large tool uses a part of
 * itself per invocation; argv[2] >= the number of functions runs every one once), then prints the result, so its
 * output depends on argv[1], argv[2] and the body.
 */
function writeSources(dir: string, spec: LargeModuleSpec, parts: number): string[] {
  const rnd = lcg(20261206);
  const mask = spec.tableBytes / 4 - 1;
  const header = "#include <stdint.h>\nextern const uint32_t table[];\n";
  const files: string[] = [];
  const per = Math.ceil(spec.functions / parts);
  for (let p = 0; p < parts; p++) {
    let src = header;
    for (let i = p * per; i < Math.min(spec.functions, (p + 1) * per); i++)
      src += cFunction(i, spec.statements, mask, rnd);
    files.push(join(dir, `part${p}.c`));
    writeFileSync(files[p], src);
  }
  const words: string[] = [];
  for (let i = 0; i < spec.tableBytes / 4; i++) words.push(`${rnd()}u`);
  writeFileSync(
    join(dir, "table.c"),
    `#include <stdint.h>\nconst uint32_t table[] = {${words.join(",")}};\n`,
  );
  files.push(join(dir, "table.c"));
  const names = Array.from({ length: spec.functions }, (_, i) => `f${i}`);
  writeFileSync(
    join(dir, "main.c"),
    `#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
${names.map((n) => `uint32_t ${n}(uint32_t, uint32_t);`).join("\n")}
static uint32_t (*const fns[])(uint32_t, uint32_t) = {${names.join(",")}};
int main(int argc, char **argv) {
  const unsigned n = sizeof fns / sizeof fns[0];
  uint32_t x = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 10) : 1, y = 0;
  unsigned steps = argc > 2 ? (unsigned)strtoul(argv[2], 0, 10) : ${DEFAULT_STEPS};
  int c;
  while ((c = getchar()) != EOF) y = y * 31 + (uint32_t)c;
  if (steps >= n)
    for (unsigned i = 0; i < n; i++) x = fns[i](x, y);
  else
    for (unsigned k = 0; k < steps; k++) x = fns[(x ^ y) % n](x, y + k);
  printf("%u\\n", x);
  return 0;
}
`,
  );
  files.push(join(dir, "main.c"));
  return files;
}

/**
 * The module's bytes, built on first use. Compiled at -O0 (a debug build: clang's -O2 takes ~40× longer per
 * byte of output here, minutes for 30 MB); the bench only needs a module whose size is code, with real work per
 * call. Throws when clang cannot target wasm32-wasi.
 */
export async function largeModule(spec: LargeModuleSpec = LARGE_30MB): Promise<Uint8Array> {
  const id = createHash("sha256")
    .update(JSON.stringify({ spec, v: 1 }))
    .digest("hex")
    .slice(0, 16);
  const cache = join(ROOT, ".cache/bench-large");
  const out = join(cache, `large-${id}.wasm`);
  if (existsSync(out)) return readFileSync(out);
  const dir = join(cache, `src-${id}`);
  mkdirSync(dir, { recursive: true });
  try {
    const sources = writeSources(dir, spec, 4);
    const objects = sources.map((s) => s.replace(/\.c$/, ".o"));
    // Two compilers at a time: the machine has 2 cores.
    for (let i = 0; i < sources.length; i += 2)
      await Promise.all(
        sources
          .slice(i, i + 2)
          .map((s, k) => run("clang", ["--target=wasm32-wasi", "-O0", "-c", s, "-o", objects[i + k]])),
      );
    await run("clang", ["--target=wasm32-wasi", ...objects, "-o", `${out}.tmp`]);
    renameSync(`${out}.tmp`, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return readFileSync(out);
}
