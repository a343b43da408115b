import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { sha256Digest } from "../core/index.js";
import { buildImage } from "./image-build.js";
import { ImageStore } from "./image-store.js";
import { type RunningRegistry, startRegistry, tinyWasm } from "./test-support.js";

const LIMIT = 1024;
let reg: RunningRegistry;
/** A request for this path reaches the registry only once its client has hung up; `released` says when. */
let holdUntilGone: string | undefined;
let released: () => void = () => {};
before(async () => {
  reg = await startRegistry({ maxUploadBytes: LIMIT, maxUploads: 4 }, (req, _res, next) => {
    if (req.url === holdUntilGone)
      req.socket.once("close", () => {
        next();
        released();
      });
    else next();
  });
});
after(() => reg.close());

const call = (path: string, init: RequestInit = {}) => fetch(`${reg.url}${path}`, init);
const errCode = async (res: Response) =>
  ((await res.json()) as { errors: { code: string }[] }).errors[0].code;
const uploads = () => readdir(join(reg.root, "uploads")).catch(() => [] as string[]);

/** Starts a session and returns its location. */
async function session(repo: string): Promise<string> {
  const res = await call(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal(res.status, 202);
  return res.headers.get("location")!;
}

/** Sends a PATCH that declares `declared` bytes, writes `sent` of them and hangs up. */
function partialPatch(path: string, declared: number, sent: number): Promise<void> {
  return new Promise((resolve) => {
    const [host, port] = reg.host.split(":");
    const req = request({
      host,
      port: Number(port),
      method: "PATCH",
      path,
      headers: { "content-length": declared },
    });
    req.on("error", () => resolve());
    req.on("response", () => resolve());
    req.write(Buffer.alloc(sent, 1), () => setTimeout(() => req.destroy(), 50));
  });
}

test("refused uploads leave no upload directory behind", async () => {
  const big = new Uint8Array(LIMIT + 1);
  const overMonolithic = await call(`/v2/refused/blobs/uploads/?digest=${sha256Digest(big)}`, {
    method: "POST",
    body: big,
  });
  assert.equal(overMonolithic.status, 413);
  const badDigest = await call("/v2/refused/blobs/uploads/?digest=sha256:nothex", {
    method: "POST",
    body: "x",
  });
  assert.equal(badDigest.status, 400);
  assert.equal(await errCode(badDigest), "DIGEST_INVALID");
  const wrongDigest = await call(`/v2/refused/blobs/uploads/?digest=${sha256Digest("y")}`, {
    method: "POST",
    body: "x",
  });
  assert.equal(await errCode(wrongDigest), "DIGEST_INVALID");
  assert.deepEqual(await uploads(), [], "monolithic uploads");

  const overChunk = await session("refused");
  const patch = await call(overChunk, { method: "PATCH", body: big });
  assert.equal(patch.status, 413);
  assert.equal((await call(overChunk)).status, 404, "a session refused for its size is gone");
  const mismatch = await session("refused");
  const put = await call(`${mismatch}?digest=${sha256Digest("other")}`, { method: "PUT", body: "some" });
  assert.equal(await errCode(put), "DIGEST_INVALID");
  assert.deepEqual(await uploads(), [], "sessions");
});

test("at most maxUploads sessions are open at once; the next is refused with 429 TOOMANYREQUESTS", async () => {
  const open = await Promise.all([1, 2, 3, 4].map(() => session("many")));
  const refused = await call("/v2/many/blobs/uploads/", { method: "POST" });
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) > 0, "Retry-After tells the client when to retry");
  assert.equal(await errCode(refused), "TOOMANYREQUESTS");
  const monolithic = await call(`/v2/many/blobs/uploads/?digest=${sha256Digest("m")}`, {
    method: "POST",
    body: "m",
  });
  assert.equal(monolithic.status, 429, "a monolithic upload holds a session too");
  assert.equal((await call(open[0], { method: "DELETE" })).status, 204);
  const next = await session("many");
  for (const loc of [...open.slice(1), next])
    assert.equal((await call(loc, { method: "DELETE" })).status, 204);
  assert.deepEqual(await uploads(), []);
});

test("a session whose client hung up before the registry read its body can be resumed and expires", async () => {
  const loc = await session("gone");
  holdUntilGone = loc;
  const handed = new Promise<void>((r) => {
    released = r;
  });
  await partialPatch(loc, 100, 10);
  await handed;
  holdUntilGone = undefined;
  // The registry has now seen the PATCH of a client already gone; the session must not stay "being written".
  const status = await call(loc);
  assert.equal(status.status, 204);
  const resumed = await call(loc, { method: "PATCH", body: "abc" });
  assert.equal(resumed.status, 202, "the session is not stuck in a write that will never end");
  assert.equal(await reg.store.sweepUploads(-1), 1, "and it is swept once stale");
});

test("the registry sweeps stale sessions by itself", async () => {
  const own = await startRegistry({ sweepIntervalMs: 50, staleUploadMs: 100 });
  try {
    const res = await fetch(`${own.url}/v2/stale/blobs/uploads/`, { method: "POST" });
    assert.equal(res.status, 202);
    const id = res.headers.get("docker-upload-uuid")!;
    assert.ok(existsSync(join(own.root, "uploads", id)));
    const deadline = Date.now() + 5000;
    while (existsSync(join(own.root, "uploads", id)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(!existsSync(join(own.root, "uploads", id)), "a stale session is removed without a gc call");
  } finally {
    await own.close();
  }
});

test("what a crash left in tmp/ is removed when the owning registry starts, never by a reader", async () => {
  const root = await mkdtemp(join(tmpdir(), "wasmlet-registry-tmp-"));
  try {
    await mkdir(join(root, "tmp"), { recursive: true });
    await writeFile(join(root, "tmp", "half-written"), "x");
    // Router processes open the registry only to read (sweepIntervalMs 0): they must not touch the staging
    // area the serving process writes through.
    const reader = new ImageStore({ root, sweepIntervalMs: 0 });
    await reader.close();
    assert.deepEqual(await readdir(join(root, "tmp")), ["half-written"]);
    const owner = new ImageStore({ root });
    await owner.close();
    assert.deepEqual(await readdir(join(root, "tmp")).catch(() => []), []);

    // A registry that only writes (no sweeps) cleans up before its first write.
    await writeFile(join(root, "tmp", "half-written"), "x");
    const writer = new ImageStore({ root, sweepIntervalMs: 0 });
    await writer.pushLocal(
      "a/b",
      "v1",
      await buildImage({ files: new Map([["/a.wasm", tinyWasm("t")]]), entry: "/a.wasm" }),
    );
    await writer.close();
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
