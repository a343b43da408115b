// Prometheus metrics (issue 16): `GET /metrics` on the control port, one view across `--workers` processes,
// protected by the control token, with bounded labels only.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ApiClient } from "../../src/client/index.js";
import { example, fixture, type Server, startServer } from "./harness.js";

const TOKEN = "metrics-test-token";
let server: Server;
let api: ApiClient;

before(async () => {
  const tokenFile = join(mkdtempSync(join(tmpdir(), "wasmlet-metrics-")), "token");
  writeFileSync(tokenFile, TOKEN);
  server = await startServer(undefined, ["--workers", "2", "--token-file", tokenFile]);
  api = new ApiClient({ server: server.controlUrl, token: TOKEN });
  const code = (p: string) => readFileSync(p).toString("base64");
  await api.createFunction({ name: "ok", code: code(example("hello/hello.wasm")) });
  await api.createFunction({ name: "bad", code: code(fixture("fail.wasm")) });
  await api.createFunction({
    name: "slow",
    code: code(fixture("sleep.wasm")),
    args: ["5000"],
    limits: { timeoutMs: 200 },
  });
  for (const name of ["ok", "bad", "slow"])
    await api.createHttpTrigger({ name, function: name, url: `/${name}/{rest}`, methods: ["GET"] });
});
after(async () => {
  await server?.stop();
});

/** Parses the text format into samples: name, labels, value. */
function parse(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape() {
  const r = await fetch(`${server.controlUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parse(await r.text());
}

const total = (s: ReturnType<typeof parse>, name: string, want: Record<string, string>) =>
  s
    .filter((x) => x.name === name && Object.entries(want).every(([k, v]) => x.labels[k] === v))
    .reduce((a, x) => a + x.value, 0);

test("/metrics needs the control token", async () => {
  assert.equal((await fetch(`${server.controlUrl}/metrics`)).status, 401);
  const wrong = await fetch(`${server.controlUrl}/metrics`, { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
});

test("invocations across both router processes and the API are counted by function, version, trigger and outcome", async () => {
  const before = await scrape();
  // Distinct paths through one route: the path must never become a label.
  const calls = await Promise.all(
    Array.from({ length: 40 }, (_, i) => fetch(`${server.routerUrl}/ok/p${i}`).then((r) => r.status)),
  );
  assert.deepEqual(new Set(calls), new Set([200]));
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${server.routerUrl}/bad/x`)).status, 500);
  assert.equal((await fetch(`${server.routerUrl}/slow/x`)).status, 504);
  assert.equal((await api.invoke("ok")).status, 200);
  const after = await scrape();
  const delta = (want: Record<string, string>) =>
    total(after, "wasmlet_function_invocations_total", want) -
    total(before, "wasmlet_function_invocations_total", want);
  assert.equal(delta({ function: "ok", version: "1", trigger: "http", outcome: "success" }), 40);
  assert.equal(delta({ function: "ok", trigger: "api", outcome: "success" }), 1);
  assert.equal(delta({ function: "bad", outcome: "error" }), 5);
  assert.equal(delta({ function: "slow", outcome: "timeout" }), 1);
  // The histogram agrees with the counter, and its buckets are cumulative up to +Inf.
  const count = total(after, "wasmlet_function_duration_seconds_count", { function: "ok", trigger: "http" });
  assert.equal(
    count,
    total(after, "wasmlet_function_invocations_total", { function: "ok", trigger: "http" }),
  );
  assert.equal(
    total(after, "wasmlet_function_duration_seconds_bucket", { function: "ok", trigger: "http", le: "+Inf" }),
    count,
  );
  const labelNames = new Set(
    after.filter((x) => x.name.startsWith("wasmlet_")).flatMap((x) => Object.keys(x.labels)),
  );
  assert.deepEqual([...labelNames].sort(), ["function", "le", "outcome", "trigger", "version"]);
  assert.ok(!after.some((x) => Object.values(x.labels).some((v) => v.includes("/p"))), "no paths in labels");
  // The process's own metrics, summed over the serve process and both routers.
  assert.ok(total(after, "process_cpu_user_seconds_total", {}) > 0);
  assert.ok(after.some((x) => x.name === "wasmlet_function_in_flight" && x.labels.function === "ok"));
});
