// A/B throughput: the echo function through the router of two trees, single process and --workers 2, wrk -c32,
// interleaved rounds; prints medians and new/old ratios.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const trees = { old: "/work/wt/base", new: "/work/main" };
const SECONDS = Number(process.env.S ?? 5),
  ROUNDS = Number(process.env.R ?? 3);
async function start(tree, extra) {
  const dir = mkdtempSync(join(tmpdir(), "ab-"));
  const p = spawn(
    process.execPath,
    [
      join(tree, "bin/wasmlet.js"),
      "serve",
      "--data-dir",
      dir,
      "--listen",
      "127.0.0.1:0",
      "--control",
      "127.0.0.1:0",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  for (let i = 0; i < 300; i++) {
    const m = /router on (http:\S+)[\s\S]*control API and OCI registry on (http:\S+)/.exec(out);
    if (m) return { p, router: m[1], control: m[2] };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(out);
}
async function deploy(s) {
  const code = readFileSync("/work/main/examples/wagi-echo/echo.wasm").toString("base64");
  let r = await fetch(`${s.control}/api/v1/functions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "echo", code, contract: "wagi" }),
  });
  if (r.status !== 201) throw new Error(await r.text());
  r = await fetch(`${s.control}/api/v1/triggers/http`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "echo", function: "echo", prefix: "/echo", methods: ["GET", "POST"] }),
  });
  if (r.status !== 201) throw new Error(await r.text());
  const url = `${s.router}/echo/x?y=1`;
  for (let i = 0; i < 200 && (await fetch(url)).status !== 200; i++)
    await new Promise((r) => setTimeout(r, 20));
  return url;
}
const wrk = (url, s) =>
  Number(
    /Requests\/sec:\s+([\d.]+)/.exec(execFileSync("wrk", ["-t1", "-c32", `-d${s}s`, url]).toString())[1],
  );
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const targets = [];
for (const [name, tree] of Object.entries(trees))
  for (const extra of [[], ["--workers", "2"]]) {
    const s = await start(tree, extra);
    targets.push({ key: `${extra.length ? "X2" : "X"} ${name}`, s, url: await deploy(s), runs: [] });
  }
for (const t of targets) wrk(t.url, 1);
for (let r = 0; r < ROUNDS; r++) for (const t of targets) t.runs.push(wrk(t.url, SECONDS));
for (const t of targets)
  console.log(
    `${t.key.padEnd(8)} median ${median(t.runs).toFixed(0)} req/s  runs ${t.runs.map((x) => x.toFixed(0)).join(" ")}`,
  );
for (const k of ["X", "X2"]) {
  const o = median(targets.find((t) => t.key === `${k} old`).runs),
    n = median(targets.find((t) => t.key === `${k} new`).runs);
  console.log(`${k}: new/old = ${(n / o).toFixed(3)}`);
}
for (const t of targets) t.s.p.kill("SIGTERM");
