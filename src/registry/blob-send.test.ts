import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, get, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BLOB_READ_BYTES, sendFileRange } from "./blob-send.js";

let dir: string;
const file = () => join(dir, "blob");
const content = randomBytes(5 * BLOB_READ_BYTES + 321);
/** What the last request's sendFileRange ended with: undefined (it resolved) or its error. */
let outcome: Promise<unknown>;
let server: Server;
let url: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "wasmlet-blob-send-"));
  await writeFile(file(), content);
  server = createServer((req, res) => {
    const [start, end] = (req.url ?? "").slice(1).split("-").map(Number);
    res.writeHead(200, { "content-length": end - start + 1 });
    outcome = sendFileRange(file(), start, end, res).then(
      () => {
        res.end();
        return undefined;
      },
      (e: unknown) => {
        res.destroy();
        return e;
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

test("sends exactly the bytes asked for, whole or any range, through buffers reused in turn", async () => {
  for (const [start, end] of [
    [0, content.length - 1],
    [0, 0],
    [BLOB_READ_BYTES - 1, 3 * BLOB_READ_BYTES],
    [content.length - 5, content.length - 1],
  ]) {
    const res = await fetch(`${url}/${start}-${end}`);
    const got = Buffer.from(await res.arrayBuffer());
    assert.ok(got.equals(content.subarray(start, end + 1)), `bytes ${start}-${end}`);
    assert.equal(await outcome, undefined);
  }
});

test("a client that hangs up mid-blob ends the send with an error instead of leaving it waiting", async () => {
  await new Promise<void>((resolve, reject) => {
    const req = get(`${url}/0-${content.length - 1}`, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", () => {});
    req.on("close", resolve);
    setTimeout(() => reject(new Error("no first chunk")), 5000);
  });
  const e = await Promise.race([outcome, new Promise((r) => setTimeout(() => r("still waiting"), 5000))]);
  assert.ok(e instanceof Error, `the send ended with an error, not: ${String(e)}`);
});

test("a file shorter than the range asked for is an error, not a short answer passed off as whole", async () => {
  const res = await fetch(`${url}/0-${content.length + 10}`).catch((e: unknown) => e);
  if (res instanceof Response) await res.arrayBuffer().catch(() => {});
  const e = await outcome;
  assert.ok(e instanceof Error);
  assert.match(e.message, /ended at byte/);
});
