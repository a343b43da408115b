// Files in a function's image: `fn create --file` adds them, the function reads them under `/`, and what one
// invocation writes (over an image file, or into /tmp) is gone for the next.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cli, fixture, type Server, show, startServer } from "./harness.js";

let server: Server;
let greeting: string;
before(async () => {
  server = await startServer();
  greeting = join(mkdtempSync(join(tmpdir(), "wasmlet-files-")), "greeting.txt");
  writeFileSync(greeting, "hello from a file");
});
after(() => server?.stop());

/** `fn create --name <name> --code readfile.wasm ...extra`. */
const createReadfile = (name: string, ...extra: string[]) =>
  cli(server, "fn", "create", "--name", name, "--code", fixture("readfile.wasm"), ...extra);

/** `image inspect -o json` of function `fn`'s v1 image in the embedded registry; the command must succeed. */
async function inspectImage(
  fn: string,
): Promise<Record<string, unknown> & { annotations: Record<string, string> }> {
  const host = server.controlUrl.replace("http://", "");
  const r = await cli(server, "image", "inspect", `${host}/functions/${fn}:v1`, "-o", "json");
  assert.equal(r.code, 0, show(r));
  return JSON.parse(r.stdout);
}

const EXPECTED = [
  "greeting: hello from a file",
  "tmp: absent",
  "greeting after write: overwritten",
  "tmp after write: scratch",
  "",
].join("\n");

test("fn create --file puts the file in the image; writes never outlive an invocation", async () => {
  const c = await createReadfile("readfile", "--file", `/data/greeting.txt=${greeting}`);
  assert.equal(c.code, 0, show(c));
  for (let i = 0; i < 3; i++) {
    const t = await cli(server, "fn", "test", "--name", "readfile");
    assert.equal(t.code, 0, show(t));
    assert.equal(t.stdout, EXPECTED, `invocation ${i + 1} must see the image as built`);
  }
  const d = await inspectImage("readfile");
  assert.deepEqual(d.entrypoint, ["/readfile.wasm"]);
  assert.equal(d.os, "wasip1");
  assert.equal(d.annotations["module.wasm.image/variant"], "compat-smart");
});

test("--format wasm-artifact pushes the CNCF wasm artifact; extra files are refused with a clear error", async () => {
  const bad = await createReadfile(
    "artifact",
    "--format",
    "wasm-artifact",
    "--file",
    `/data/greeting.txt=${greeting}`,
  );
  assert.equal(bad.code, 1, show(bad));
  assert.match(bad.stderr, /files: .*wasm-artifact/);
  const c = await createReadfile("artifact", "--format", "wasm-artifact");
  assert.equal(c.code, 0, show(c));
  const d = await inspectImage("artifact");
  assert.equal(d.configMediaType, "application/vnd.wasm.config.v0+json");
  assert.deepEqual(d.layerMediaTypes, ["application/wasm"]);
  const t = await cli(server, "fn", "test", "--name", "artifact");
  assert.equal(t.code, 0, show(t));
  assert.match(t.stdout, /^greeting: absent\n/);
});

test("file paths must be absolute and free of ..; nothing is created otherwise", async () => {
  for (const [target, why] of [
    ["data/x.txt", /absolute/],
    ["/data/../etc/passwd", /"\.\."/],
  ] as const) {
    const r = await createReadfile("badfile", "--file", `${target}=${greeting}`);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /files/);
    assert.match(r.stderr, why);
  }
  const missing = await createReadfile("badfile", "--file", "/data/x=/nonexistent/file");
  assert.match(missing.stderr, /--file: cannot read \/nonexistent\/file/);
  assert.doesNotMatch((await cli(server, "fn", "list")).stdout, /badfile/);
});
