// Prometheus metrics and invocation ids (issue 16): `GET /metrics` on the control port, one view across `--workers`
// processes, protected by the control token, with bounded labels only; an id on every invocation's answer, in its
// log record, and in the function's environment.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ApiClient, packArchive } from "../../src/client/index.js";
import { cli, example, fixture, ROOT, type Server, show, startServer } from "./harness.js";

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
  await api.createFunction({
    name: "env",
    code: readFileSync(join(ROOT, "src/runtime/wasi/fixtures/args-env.wasm")).toString("base64"),
  });
  for (const name of ["ok", "bad", "slow", "env"])
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

test("every invocation's answer carries its id; the function sees it, with the caller's traceparent; fn logs finds it", async () => {
  const ids = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const r = await fetch(`${server.routerUrl}/ok/x`);
    await r.arrayBuffer();
    const id = r.headers.get("x-wasmlet-invocation-id") ?? "";
    assert.match(id, /^[0-9a-f]{10}-[0-9a-z]+$/);
    ids.add(id);
  }
  assert.equal(ids.size, 40, "unique across both router processes");
  const failed = await fetch(`${server.routerUrl}/bad/x`);
  await failed.arrayBuffer();
  assert.match(
    failed.headers.get("x-wasmlet-invocation-id") ?? "",
    /^[0-9a-f]{10}-/,
    "failures carry one too",
  );

  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const r = await fetch(`${server.routerUrl}/env/x`, {
    headers: { traceparent, "x-wasmlet-invocation-id": "forged-by-the-caller" },
  });
  const out = await r.text();
  const id = r.headers.get("x-wasmlet-invocation-id") as string;
  assert.notEqual(id, "forged-by-the-caller");
  assert.match(out, new RegExp(`^env:WASMLET_INVOCATION_ID=${id}$`, "m"));
  assert.match(out, new RegExp(`^env:TRACEPARENT=${traceparent}$`, "m"));

  // The record arrives within the log batch interval (100 ms).
  let found: Awaited<ReturnType<ApiClient["readLogs"]>> = [];
  for (let i = 0; i < 50 && found.length === 0; i++) {
    found = await api.readLogs("env", { invocation: id });
    if (found.length === 0) await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(found.length, 1);
  assert.equal(found[0].invocationId, id);
  assert.equal(found[0].traceparent, traceparent);
  const c = await cli(
    { controlUrl: server.controlUrl },
    "--token",
    TOKEN,
    "fn",
    "logs",
    "--name",
    "env",
    "--invocation",
    id,
  );
  assert.equal(c.code, 0, show(c));
  assert.equal(c.stdout.trim().split("\n").length, 1, c.stdout);
  assert.match(c.stdout, new RegExp(id));
  const viaApi = await api.invoke("ok");
  assert.ok(
    viaApi.headers.some(([k, v]) => k === "x-wasmlet-invocation-id" && /^[0-9a-f]{10}-/.test(v)),
    "fn test / the API's invoke answers carry an id too",
  );
});

test("rejections, builds, registry requests and dropped log records have series of their own", async () => {
  await api.createFunction({
    name: "small",
    code: readFileSync(example("hello/hello.wasm")).toString("base64"),
    limits: { maxBodyBytes: 16 },
  });
  await api.createHttpTrigger({ name: "small", function: "small", url: "/small", methods: ["POST"] });
  // The router processes learn of the new route from the store's feed within a few ms.
  let big = await fetch(`${server.routerUrl}/small`, { method: "POST", body: "x".repeat(1000) });
  for (let i = 0; i < 100 && big.status === 404; i++) {
    await new Promise((r) => setTimeout(r, 20));
    big = await fetch(`${server.routerUrl}/small`, { method: "POST", body: "x".repeat(1000) });
  }
  assert.equal(big.status, 413);
  const auth = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await fetch(`${server.controlUrl}/v2/`, { headers: auth })).status, 200);
  const missing = await fetch(`${server.controlUrl}/v2/functions/ok/manifests/nope`, { headers: auth });
  assert.equal(missing.status, 404);
  const archive = await packArchive(new Map([["hello.ts", readFileSync(example("as-hello/hello.ts"))]]));
  const p = await api.createPackage({
    name: "built",
    archive: Buffer.from(archive).toString("base64"),
    builder: "assemblyscript",
    fileName: "hello.tar.gz",
  });
  for (let i = 0; i < 600 && (await api.getPackage(p.name)).status !== "succeeded"; i++)
    await new Promise((r) => setTimeout(r, 100));
  const m = await scrape();
  assert.equal(total(m, "wasmlet_function_invocations_total", { function: "small", outcome: "rejected" }), 1);
  assert.equal(total(m, "wasmlet_registry_operations_total", { operation: "base_get", status: "2xx" }), 1);
  assert.equal(
    total(m, "wasmlet_registry_operations_total", { operation: "manifest_get", status: "4xx" }),
    1,
  );
  assert.equal(
    total(m, "wasmlet_build_duration_seconds_count", { builder: "assemblyscript", outcome: "succeeded" }),
    1,
  );
  // Nothing was dropped here; the series is declared (TYPE line) so queries find it at zero, not missing.
  const text = await (await fetch(`${server.controlUrl}/metrics`, { headers: auth })).text();
  assert.match(text, /^# TYPE wasmlet_log_records_dropped_total counter$/m);
});
