// SIGKILL during a push: whether the pushing client or the server dies mid-upload, no partial blob ever becomes
// visible, and blobs pushed before are intact after a restart.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Server, startServer } from "./harness.js";

let server: Server;
let dataDir: string;
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "wasmlet-crash-"));
  server = await startServer(dataDir);
});
after(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const BIG = 32 * 1024 * 1024;
/** The digest of BIG bytes of 0x5a: what the interrupted pushes were about to upload. */
const bigDigest = `sha256:${createHash("sha256").update(Buffer.alloc(BIG, 0x5a)).digest("hex")}`;

/** A pusher in its own process: starts an upload and streams BIG bytes slowly, saying "streaming" once under way. */
const PUSHER = `
const http = require("node:http");
const [url, digest, size] = process.argv.slice(1);
(async () => {
  const start = await fetch(url + "/v2/crash/client/blobs/uploads/", { method: "POST" });
  const loc = new URL(start.headers.get("location"), url);
  loc.searchParams.set("digest", digest);
  const req = http.request(loc, { method: "PUT", headers: { "content-length": size } });
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  let sent = 0;
  const tick = () => {
    if (sent === 4) process.stdout.write("streaming\\n");
    sent++;
    req.write(chunk);
    setTimeout(tick, 10);
  };
  tick();
})();
`;

async function head(digest: string, repo: string): Promise<number> {
  return (await fetch(`${server.controlUrl}/v2/${repo}/blobs/${digest}`, { method: "HEAD" })).status;
}

test("a pushing client killed mid-upload leaves nothing visible", async () => {
  const child = spawn(process.execPath, ["-e", PUSHER, server.controlUrl, bigDigest, String(BIG)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  assert.equal(await head(bigDigest, "crash/client"), 404);
});

test("the server killed mid-upload restarts with completed blobs intact and no partial one", async () => {
  const done = randomBytes(100_000);
  const doneDigest = `sha256:${createHash("sha256").update(done).digest("hex")}`;
  const put = await fetch(`${server.controlUrl}/v2/crash/server/blobs/uploads/?digest=${doneDigest}`, {
    method: "POST",
    body: done,
  });
  assert.equal(put.status, 201);

  const start = await fetch(`${server.controlUrl}/v2/crash/server/blobs/uploads/`, { method: "POST" });
  const loc = new URL(start.headers.get("location")!, server.controlUrl);
  loc.searchParams.set("digest", bigDigest);
  const req = request(loc, { method: "PUT", headers: { "content-length": BIG } });
  req.on("error", () => {}); // the server dies under it
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  for (let i = 0; i < 8; i++) req.write(chunk);
  await new Promise((r) => setTimeout(r, 200));
  await server.kill();
  req.destroy();

  server = await startServer(dataDir);
  assert.equal(await head(bigDigest, "crash/server"), 404);
  const got = await fetch(`${server.controlUrl}/v2/crash/server/blobs/${doneDigest}`);
  assert.equal(got.status, 200);
  const bytes = Buffer.from(await got.arrayBuffer());
  assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, doneDigest);
});
