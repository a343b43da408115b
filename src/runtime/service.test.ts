// The runtime as the router and `fn test` use it: exit codes in a header, a written file as the body, and the
// command-line view of a run (Runtime.run), over the real executor and the tool fixture.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { DEFAULT_LIMITS, type FunctionRecord, type LoadedImage, sha256Digest } from "../core/index.js";
import { HybridExecutor } from "./executor.js";
import { Runtime } from "./service.js";
import type { InvocationRecord, InvocationRequest } from "./types.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const module = readFileSync(`${root}test/fixtures/tool.wasm`);
const image: LoadedImage = {
  digest: sha256Digest(module),
  entry: "/tool.wasm",
  module,
  files: new Map([
    ["/tool.wasm", module],
    ["/work/input.txt", Buffer.from("make me loud")],
  ]),
  preopens: ["work"],
};

function fn(args: string[], more: Partial<FunctionRecord> = {}): FunctionRecord {
  const version = { version: 1, image: "x/tool:v1", digest: image.digest, createdAt: "" };
  return {
    name: "tool",
    contract: "command",
    args,
    env: {},
    limits: { ...DEFAULT_LIMITS, memoryMiB: 16 },
    current: version,
    versions: [version],
    createdAt: "",
    updatedAt: "",
    ...more,
  };
}

const request = (): InvocationRequest => ({
  method: "GET",
  url: "/",
  path: "/",
  query: "",
  headers: {},
  body: new Uint8Array(0),
  remoteAddr: "",
  remotePort: 0,
  serverName: "",
  serverPort: 0,
  protocol: "HTTP/1.1",
  route: { pattern: "/", scriptName: "", pathInfo: "/", params: {} },
});

const executor = new HybridExecutor();
const logs: InvocationRecord[] = [];
const runtime = new Runtime({ executor, loadImage: async () => image, onLog: (r) => logs.push(r) });
after(() => executor.close());

const header = (headers: [string, string][], name: string) => headers.find(([k]) => k === name)?.[1];

test("a command's answer carries its exit code: 0 with stdout, the status on the 500 of a non-zero exit", async () => {
  const ok = await runtime.invoke(fn(["work", "0"]), request());
  assert.equal(ok.status, 200);
  assert.equal(header(ok.headers, "x-wasmlet-exit-code"), "0");
  assert.equal(Buffer.from(ok.body).toString(), "wrote 12 bytes\n");
  const failed = await runtime.invoke(fn(["work", "7"]), request());
  assert.equal(failed.status, 500);
  assert.equal(header(failed.headers, "x-wasmlet-exit-code"), "7");
});

test("outputFile: the body is the file the run wrote; a run that did not write it fails", async () => {
  const res = await runtime.invoke(fn(["work", "0"], { outputFile: "/work/out/result.txt" }), request());
  assert.equal(res.status, 200);
  assert.equal(header(res.headers, "content-type"), "application/octet-stream");
  assert.equal(Buffer.from(res.body).toString(), "MAKE ME LOUD");
  const missing = await runtime.invoke(fn(["work", "0"], { outputFile: "/work/out/other.txt" }), request());
  assert.equal(missing.status, 500);
  assert.match(Buffer.from(missing.body).toString(), /did not write its output file/);
});

test("run reports exit code, stdout, stderr and the files written under the collected directory, and logs the run", async () => {
  const before = logs.length;
  const r = await runtime.run(fn(["work", "33"]), request(), "/work");
  assert.equal(r.exitCode, 33);
  assert.equal(r.status, 500);
  assert.equal(r.error, undefined, "a plain exit is told by exitCode");
  assert.equal(Buffer.from(r.stdout).toString(), "wrote 12 bytes\n");
  assert.equal(Buffer.from(r.stderr).toString(), "tool: done\n");
  assert.deepEqual(
    [...r.files].map(([p, b]) => [p, Buffer.from(b).toString()]),
    [["/work/out/result.txt", "MAKE ME LOUD"]],
  );
  assert.equal(logs.length, before + 1);
  assert.equal(logs.at(-1)?.status, 500);
  const everything = await runtime.run(fn(["work", "0"]), request(), "/");
  assert.deepEqual(
    [...everything.files.keys()],
    ["/work/out/result.txt"],
    "collecting / gets every written file",
  );
  const usage = await runtime.run(fn([]), request());
  assert.equal(usage.exitCode, 2);
  assert.equal(usage.files.size, 0, "nothing collected when not asked");
});

test("a demoted function, run on a worker thread, still has its preopen and returns its written files", async () => {
  // A zero budget demotes the function after its first run: the second runs on a worker.
  const demoting = new HybridExecutor({ mainBudgetMs: 0 });
  try {
    const rt = new Runtime({ executor: demoting, loadImage: async () => image });
    for (let i = 0; i < 2; i++) {
      const r = await rt.run(fn(["work", "0"]), request(), "/work");
      assert.equal(r.exitCode, 0, Buffer.from(r.stderr).toString());
      assert.equal(Buffer.from(r.files.get("/work/out/result.txt") ?? []).toString(), "MAKE ME LOUD");
    }
    assert.ok(demoting.poolStats.threads > 0, "the second run went to a worker");
  } finally {
    await demoting.close();
  }
});

test("files handed back count against the function's output limit, together with stdout", async () => {
  // stdout "wrote 12 bytes\n" (15) fits 20 alone; with the 12-byte file it does not.
  const small = fn(["work", "0"], { outputFile: "/work/out/result.txt" });
  small.limits = { ...small.limits, maxOutputBytes: 20 };
  const res = await runtime.invoke(small, request());
  assert.equal(res.status, 500);
  assert.match(
    Buffer.from(res.body).toString(),
    /handed back 27 bytes of stdout and files, over its output limit of 20/,
  );
  assert.equal((await runtime.invoke(fn(["work", "0"], { limits: small.limits }), request())).status, 200);
});
