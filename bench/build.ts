// Issue 4's benchmark: `fn create --src` -> first response, for the C and AssemblyScript hellos, through a
// running server (source archived and uploaded, built in the server's BuildQueue, pushed, routed, invoked).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { benchBuilds } from "../src/build/build.bench.js";
import { BUILDERS } from "../src/build/index.js";
import { ApiClient, packArchive } from "../src/client/index.js";
import { median, ROOT, startWasmlet } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";

const SOURCES = {
  c: { file: "hello.c", text: readFileSync(join(ROOT, "examples/hello/hello.c"), "utf8"), comment: "//" },
  assemblyscript: {
    file: "hello.ts",
    text: readFileSync(join(ROOT, "examples/as-hello/hello.ts"), "utf8"),
    comment: "//",
  },
} as const;

/** One `fn create --src` as the CLI does it, then a route and requests until the first 200. */
async function createToFirstResponse(
  client: ApiClient,
  routerUrl: string,
  builder: keyof typeof SOURCES,
  name: string,
): Promise<{ upload: number; build: number; first: number; total: number }> {
  const src = SOURCES[builder];
  // A fresh comment per run: every build compiles new bytes.
  const text = `${src.comment} ${name} ${Date.now()}\n${src.text}`;
  const t0 = performance.now();
  const archive = await packArchive(new Map([[src.file, Buffer.from(text)]]));
  const pkg = await client.createPackage({
    name,
    builder,
    archive: Buffer.from(archive).toString("base64"),
    fileName: src.file,
    function: { name },
  });
  const t1 = performance.now();
  for (;;) {
    const p = await client.getPackage(name);
    if (p.status === "failed") throw new Error(`build of ${name} failed: ${p.buildLog}`);
    if (p.status === "succeeded" && p.generation >= pkg.generation) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  while (!(await client.getFunction(name).catch(() => undefined)))
    await new Promise((r) => setTimeout(r, 10));
  const t2 = performance.now();
  await client.createHttpTrigger({ name, function: name, url: `/${name}` });
  let res: Response;
  do res = await fetch(`${routerUrl}/${name}`);
  while (res.status === 404);
  const body = await res.text();
  const t3 = performance.now();
  if (res.status !== 200 || !body.includes("hello"))
    throw new Error(`bad first response: ${res.status} ${body}`);
  return { upload: t1 - t0, build: t2 - t1, first: t3 - t2, total: t3 - t0 };
}

export async function benchBuild(opts: { runs?: number } = {}): Promise<void> {
  const runs = opts.runs ?? 3;
  const versions: Row[] = [];
  for (const b of [BUILDERS.c, BUILDERS.assemblyscript, BUILDERS.rust]) {
    const d = await b.detect();
    versions.push({ builder: b.name, toolchain: d.ok ? d.version : `missing (${d.install})` });
  }
  printTable("toolchains used by the builders (exact versions)", versions);

  const w = await startWasmlet();
  try {
    const client = new ApiClient({ server: w.controlUrl });
    const rows: Row[] = [];
    for (const builder of ["c", "assemblyscript"] as const) {
      if (!(await BUILDERS[builder].detect()).ok) {
        rows.push({ source: builder, total: "skipped: toolchain missing" });
        continue;
      }
      const times: Awaited<ReturnType<typeof createToFirstResponse>>[] = [];
      for (let i = 0; i < runs; i++)
        times.push(
          await createToFirstResponse(client, w.routerUrl, builder, `b-${builder.slice(0, 2)}-${i}`),
        );
      const m = (k: keyof (typeof times)[0]) => fmt(median(times.map((t) => t[k])));
      rows.push({
        source: builder === "c" ? "C hello (clang)" : "AssemblyScript hello (asc)",
        "archive + upload": m("upload"),
        "queue + build + push + bind": m("build"),
        "route + first request": m("first"),
        total: m("total"),
      });
    }
    printTable(`fn create --src -> first 200 (median of ${runs}, ms)`, rows);
  } finally {
    await w.stop();
  }
  const raw = await benchBuilds(runs);
  printTable(`the builder alone, no server (median of ${runs}, ms)`, [
    {
      "C hello": raw.c === undefined ? "skipped" : fmt(raw.c),
      "AssemblyScript hello": fmt(raw.assemblyscript),
    },
  ]);
}
