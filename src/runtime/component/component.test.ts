// Components on the executor (pool workers): the image's files with a per-invocation overlay, output and memory
// limits, clean state between runs, the http contract's mapping.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { type Digest, sha256Digest, WasmletError } from "../../core/index.js";
import { CONTRACTS } from "../contracts/index.js";
import { HybridExecutor } from "../executor.js";
import type { RunLimits, WasiInputs } from "../types.js";

const root = (p: string) => new Uint8Array(readFileSync(new URL(`../../../../${p}`, import.meta.url)));
const executor = new HybridExecutor({ maxWorkers: 1 });
after(() => executor.close());
const LIMITS: RunLimits = { timeoutMs: 5000, memoryMiB: 32, maxOutputBytes: 1000 };

async function load(path: string, files: [string, Uint8Array][] = []): Promise<Digest> {
  const module = root(path);
  const digest = sha256Digest(module);
  await executor.prepare(
    { digest, entry: "/f.wasm", module, files: new Map([["/f.wasm", module], ...files]) },
    LIMITS,
  );
  return digest;
}

const run = (digest: Digest, inputs: Partial<WasiInputs>, limits = LIMITS) =>
  executor.run(
    digest,
    { args: ["/f.wasm"], env: [], stdin: new Uint8Array(0), ...inputs },
    limits,
    performance.now() + limits.timeoutMs,
  );

test("a command component reads the image's files; what it writes lasts one invocation", async () => {
  const d = await load("test/fixtures/components/readfile.cmd.wasm", [
    ["/data/greeting.txt", Buffer.from("hi there")],
  ]);
  const expected =
    "greeting: hi there\ntmp: absent\ngreeting after write: overwritten\ntmp after write: scratch\n";
  for (let i = 0; i < 3; i++) {
    const r = await run(d, {});
    assert.equal(r.error, undefined, Buffer.from(r.stderr).toString());
    assert.equal(Buffer.from(r.stdout).toString(), expected, `run ${i + 1}`);
  }
});

test("stdout over the output limit fails the run (output), never a cut body", async () => {
  const d = await load("test/fixtures/components/raw.cmd.wasm");
  const ok = await run(d, { stdin: new Uint8Array(1000).fill(65) });
  assert.equal(ok.stdout.byteLength, 1000);
  const over = await run(d, { stdin: new Uint8Array(1001).fill(65) });
  assert.equal(over.error?.kind, "output");
});

test("memory over the cap fails the run", async () => {
  const d = await load("test/fixtures/components/bomb.cmd.wasm");
  const r = await run(d, {});
  assert.ok(r.error, "the bomb must fail");
  assert.notEqual(r.error.kind, "timeout");
});

test("the http contract hands the request to the component and its response back", async () => {
  const d = await load("examples/http-hello/hello.wasm");
  const fn = { args: [], env: {}, allowOutbound: [] } as never;
  const req = {
    method: "POST",
    url: "/p?q=1",
    path: "/p",
    query: "q=1",
    headers: { host: "h.example", "content-type": "text/plain" },
    body: Buffer.from("the body"),
    remoteAddr: "127.0.0.1",
    remotePort: 1,
    serverName: "localhost",
    serverPort: 80,
    protocol: "HTTP/1.1",
    route: { pattern: "/p", scriptName: "/p", pathInfo: "", params: {} },
  };
  const inputs = CONTRACTS.http.prepare(req, fn, "/f.wasm");
  assert.deepEqual(inputs.http, {
    method: "POST",
    pathWithQuery: "/p?q=1",
    authority: "h.example",
    headers: [
      ["host", "h.example"],
      ["content-type", "text/plain"],
    ],
  });
  for (let i = 0; i < 2; i++) {
    const res = CONTRACTS.http.respond(await run(d, inputs, { ...LIMITS, memoryMiB: 32 }));
    assert.equal(res.status, 201);
    assert.deepEqual(res.headers, [
      ["content-type", "application/octet-stream"],
      ["x-echo", "yes"],
    ]);
    assert.equal(Buffer.from(res.body).toString(), "the body");
  }
  assert.throws(
    () => CONTRACTS.http.respond({ exitCode: 0, stdout: new Uint8Array(0), stderr: new Uint8Array(0) }),
    (e: unknown) => e instanceof WasmletError && e.code === "BAD_GATEWAY",
  );
});

const get = (pathWithQuery: string, allowOutbound: string[] = []): Partial<WasiInputs> => ({
  http: { method: "GET", pathWithQuery, authority: "t", headers: [] },
  allowOutbound,
});

test("a caller that goes away stops a computing component within the grace (its thread is ended)", async () => {
  const d = await load("examples/http-hello/hello.wasm");
  let fire: () => void = () => {};
  const cancel = {
    cancelled: false,
    onCancel(cb: () => void) {
      fire = () => {
        this.cancelled = true;
        cb();
      };
      return () => {};
    },
  };
  const limits = { ...LIMITS, timeoutMs: 10_000 };
  const t0 = performance.now();
  const p = executor.run(
    d,
    { args: [], env: [], stdin: new Uint8Array(0), ...get("/?spin") },
    limits,
    t0 + limits.timeoutMs,
    cancel,
  );
  setTimeout(() => fire(), 200);
  const r = await p;
  assert.equal(r.error?.kind, "cancelled");
  assert.ok(performance.now() - t0 < 3000, `stopped after ${performance.now() - t0} ms`);
});

test("a wildcard allow-list entry does not reach loopback; an exact one does, by name too", async () => {
  const { createServer } = await import("node:http");
  const upstream = createServer((req, res) => res.end(`up ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as { port: number }).port;
  try {
    const d = await load("examples/http-hello/hello.wasm");
    const target = (host: string) => `/?fetch=${encodeURIComponent(`http://${host}:${port}/ok`)}`;
    const wild = await run(d, get(target("127.0.0.1"), ["http://*:*"]));
    assert.match(Buffer.from(wild.stdout).toString(), /HTTP-request-denied/);
    assert.match(Buffer.from(wild.stderr).toString(), /needs an exact allow-list entry/);
    const byName = await run(d, get(target("localhost"), ["*://*.localhost:*", "http://*:*"]));
    assert.match(Buffer.from(byName.stderr).toString(), /resolves to a loopback/);
    const exact = await run(d, get(target("localhost"), [`http://localhost:${port}`]));
    assert.equal(Buffer.from(exact.stdout).toString(), "outbound 200: up /ok");
  } finally {
    upstream.close();
  }
});

test("a small component runs on the request thread, every request on a clean instance and clean resource tables", async () => {
  // A fresh executor, so that its pool shows whether any run needed a worker; a budget that a loaded machine does
  // not exceed by accident.
  const own = new HybridExecutor({ maxWorkers: 1, mainBudgetMs: 1000 });
  try {
    const module = root("test/fixtures/components/http-hello.wasm");
    const digest = sha256Digest(module);
    await own.prepare({ digest, entry: "/f.wasm", module, files: new Map([["/f.wasm", module]]) }, LIMITS);
    for (let i = 0; i < 5; i++) {
      const r = await own.run(
        digest,
        { args: ["/f.wasm"], env: [], stdin: new Uint8Array(0), ...get(`/n/${i}?q=1`) },
        LIMITS,
        performance.now() + LIMITS.timeoutMs,
      );
      assert.equal(r.error, undefined, Buffer.from(r.stderr).toString());
      assert.equal(r.http?.status, 200);
      // The component counts its runs in a static: a count above 1 is state left by an earlier request. It also
      // makes a `fields` it never drops: a handle above 1 is one left in the host's tables by an earlier request.
      assert.equal(
        Buffer.from(r.stdout).toString(),
        `hello from a small component (run 1 of this instance, leaked handle 1): /n/${i}?q=1\n`,
      );
    }
    assert.equal(own.poolStats.threads, 0, "no run needed a worker thread");
  } finally {
    await own.close();
  }
});

test("a runaway component on the request thread leaves it at the budget and times out on a worker", async () => {
  const own = new HybridExecutor({ maxWorkers: 1 });
  try {
    const module = root("test/fixtures/components/spin.cmd.wasm");
    const digest = sha256Digest(module);
    const limits = { ...LIMITS, timeoutMs: 1000 };
    await own.prepare({ digest, entry: "/f.wasm", module, files: new Map([["/f.wasm", module]]) }, limits);
    const t0 = performance.now();
    const r = await own.run(
      digest,
      { args: ["/f.wasm", "60000"], env: [], stdin: new Uint8Array(0) },
      limits,
      t0 + limits.timeoutMs,
    );
    const took = performance.now() - t0;
    assert.equal(r.error?.kind, "timeout");
    // The guest asked for 60 s; a generous bound, for a loaded machine (thread boot included).
    assert.ok(took < 8000, `answered after ${took} ms`);
    assert.equal(own.poolStats.threads, 1, "the run went on to a worker");
    // The instance the runaway left is not reused: a short spin right after it runs as usual (on the worker, while
    // the function is demoted; the first one may have been ended and replaced).
    const ok = await own.run(
      digest,
      { args: ["/f.wasm", "1"], env: [], stdin: new Uint8Array(0) },
      { ...limits, timeoutMs: 20_000 },
      performance.now() + 20_000,
    );
    assert.equal(ok.error, undefined, Buffer.from(ok.stderr).toString());
    assert.equal(Buffer.from(ok.stdout).toString(), "done\n");
  } finally {
    await own.close();
  }
});

test("stderr keeps its last bytes; stdout past its limit fails the run", async () => {
  const { ByteCollector, OutputLimitSignal } = await import("./invocation.js");
  const tail = new ByteCollector(10, "tail");
  for (const s of ["abc", "defgh", "ijklmnop", "q"]) tail.push(Buffer.from(s));
  assert.equal(Buffer.from(tail.bytes()).toString(), "hijklmnopq");
  const out = new ByteCollector(10, "throw");
  out.push(Buffer.from("0123456789"));
  assert.throws(() => out.push(Buffer.from("x")), OutputLimitSignal);
});

test("the glue rewrite applies to what jco generates, and leaves glue it does not recognise as it is", async () => {
  const { exposeTables, fastGlue } = await import("./glue.js");
  const { prepareComponent } = await import("./prepare.js");
  const { js } = await prepareComponent(root("test/fixtures/components/http-hello.wasm"), 32);
  const fast = fastGlue(js);
  // A jco upgrade that renames what the rewrite replaces would silently bring back ~10 x the CPU per request.
  assert.match(fast, /const _debugLog = \(\) => \{\};/);
  assert.match(fast, /return \[t, 0\];/);
  assert.match(fast, /return args\.importFn\.apply\(null/);
  // Every import the core instances get is made by the direct lowering, and no trampoline copies the task's metadata.
  assert.doesNotMatch(fast, /_lowerImportBackwardsCompat\.bind\(\s*null,\s*\{/);
  assert.match(fast, /__wasmletLowerImport\(null,/);
  assert.doesNotMatch(fast, /_getGlobalCurrentTaskMeta\(\w+\)\?\.taskID/);
  // Without its tables in view, the runner would make a new instance every 1000 runs (~2-3 ms each).
  const exposed = exposeTables(fast);
  assert.ok(exposed, "the glue's resource tables are found");
  assert.match(exposed, /__wasmletTables = \{ handles: HANDLE_TABLES, captures: \[\] \};/);
  assert.match(exposed, /__wasmletTables\.captures\[\d+\] = captureTable\d+;/);
  const other = "function instantiate() {}\n";
  assert.equal(fastGlue(other), other);
  assert.equal(exposeTables(other), null);
});
