import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { SqliteStore } from "./sqlite-store.js";
import { fnRecord, runStoreContract } from "./store.contract.js";
import type { Change } from "./types.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "wasmlet-store-"));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runStoreContract("sqlite", async () => new SqliteStore(tempDir()));

const STORE_MODULE = new URL("./index.js", import.meta.url).href;

/** Runs `body` in a child node process with `store` opened on `dir`; the child prints "ready" when done. */
function child(dir: string, body: string) {
  const script = `
    import { SqliteStore } from ${JSON.stringify(STORE_MODULE)};
    import { fnRecord } from ${JSON.stringify(new URL("./store.contract.js", import.meta.url).href)};
    const store = new SqliteStore(${JSON.stringify(dir)});
    ${body}
    process.stdout.write("ready\\n");
  `;
  return spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

async function waitReady(p: ReturnType<typeof child>): Promise<void> {
  let out = "";
  p.stdout?.setEncoding("utf8");
  for await (const chunk of p.stdout ?? []) {
    out += chunk;
    if (out.includes("ready")) return;
  }
  throw new Error(`child exited before it was ready: ${out}`);
}

test("sqlite: data survives close and reopen", async () => {
  const dir = tempDir();
  const a = new SqliteStore(dir);
  await a.create("function", "keep", fnRecord("keep"));
  await a.appendLogs([
    { function: "keep", time: "t", status: 500, durationMs: 1, digest: "d", stderr: "boom" },
  ]);
  await a.close();
  const b = new SqliteStore(dir);
  assert.deepEqual(await b.get("function", "keep"), fnRecord("keep"));
  assert.deepEqual(
    (await b.changes(0)).map((c) => c.op),
    ["create"],
  );
  assert.equal((await b.readLogs("keep"))[0]?.stderr, "boom");
  await b.close();
});

test("sqlite: every write a SIGKILLed process completed is there after reopen", async () => {
  const dir = tempDir();
  const p = child(
    dir,
    `for (let i = 0; i < 50; i++) await store.create("function", "f" + i, fnRecord("f" + i));
     await store.update("function", "f0", fnRecord("f0", 2));
     setInterval(() => {}, 1000); // stay alive until killed, with the database still open`,
  );
  await waitReady(p);
  p.kill("SIGKILL");
  const [, signal] = await once(p, "exit");
  assert.equal(signal, "SIGKILL");
  const s = new SqliteStore(dir);
  assert.equal((await s.list("function")).length, 50);
  assert.equal((await s.get("function", "f0"))?.current.version, 2);
  assert.equal(await s.head(), 51);
  await s.close();
});

test("sqlite: a watcher sees writes made by another process, in order", async () => {
  const dir = tempDir();
  const s = new SqliteStore(dir);
  await s.create("function", "mine", fnRecord("mine"));
  const seen: Change[] = [];
  const stop = s.watch((c) => seen.push(c));
  const p = child(
    dir,
    `await store.create("function", "theirs", fnRecord("theirs"));
     await store.delete("function", "theirs");`,
  );
  await waitReady(p);
  await once(p, "exit");
  const deadline = Date.now() + 2000;
  while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    seen.map((c) => [c.name, c.op]),
    [
      ["theirs", "create"],
      ["theirs", "delete"],
    ],
  );
  await s.create("function", "mine2", fnRecord("mine2"));
  assert.equal(seen.at(-1)?.name, "mine2", "local writes still arrive once, after the remote ones");
  assert.equal(seen.length, 3);
  stop();
  await s.close();
});

test("sqlite: with a long poll interval, another process's write waits for the poll or for pollNow()", async () => {
  const dir = tempDir();
  const s = new SqliteStore(dir, { pollMs: 60_000 });
  const seen: Change[] = [];
  const stop = s.watch((c) => seen.push(c));
  const p = child(dir, `await store.create("function", "theirs", fnRecord("theirs"));`);
  await waitReady(p);
  await once(p, "exit");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(seen.length, 0, "not polled yet");
  s.pollNow();
  assert.deepEqual(
    seen.map((c) => [c.name, c.op]),
    [["theirs", "create"]],
  );
  await s.create("function", "mine", fnRecord("mine"));
  assert.equal(seen.at(-1)?.name, "mine", "local writes reach watchers at once");
  stop();
  await s.close();
});

test("sqlite: concurrent accepts commit together; each is stored, deduplicated or refused on its own", async () => {
  const dir = tempDir();
  const s = new SqliteStore(dir);
  const now = new Date().toISOString();
  const inv = (id: string, idempotencyKey?: string) => ({
    id,
    function: "f",
    status: "pending" as const,
    request: { method: "POST", url: "/", headers: {}, body: "" },
    attempts: 0,
    acceptedAt: now,
    ageFrom: now,
    updatedAt: now,
    notBefore: Date.now(),
    ...(idempotencyKey ? { idempotencyKey } : {}),
  });
  // One turn of the event loop: the first is stored at once, the rest in one transaction at the turn's end.
  const results = await Promise.allSettled([
    ...Array.from({ length: 40 }, (_, i) => s.acceptInvocation(inv(`i${i}`))),
    s.acceptInvocation(inv("k1", "key")),
    s.acceptInvocation(inv("k2", "key")),
    s.acceptInvocation(inv("i7")),
  ]);
  const value = (i: number) => {
    const r = results[i];
    assert.equal(r.status, "fulfilled", `accept ${i}`);
    return r.value;
  };
  for (let i = 0; i < 40; i++) assert.equal(value(i).duplicate, false);
  assert.equal(value(41).duplicate, true, "the same key later in the same batch is a duplicate");
  assert.equal(value(41).invocation.id, "k1");
  const refused = results[42];
  assert.equal(refused.status, "rejected", "a second i7 is refused");
  assert.match(String((refused as PromiseRejectedResult).reason), /UNIQUE/);
  await s.close();
  const again = new SqliteStore(dir);
  assert.deepEqual(await again.countInvocations("f"), { pending: 41, running: 0, succeeded: 0, dead: 0 });
  await again.close();
});
