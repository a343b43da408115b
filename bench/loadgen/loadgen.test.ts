import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isWasmletError } from "../../src/core/index.js";
import { ensureLoadgen, openLoop } from "./loadgen.js";

const NO_CC = spawnSync("cc", ["--version"]).error ? "no C compiler (cc) on this machine" : false;

let server: Server;
let base = "";
let sleepyCount = 0;

before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    if (path.startsWith("/sleepy")) {
      // Every 100th request answers after 50 ms (the event loop stays free meanwhile).
      if (++sleepyCount % 100 === 0) setTimeout(() => res.end("hello\n"), 50);
      else res.end("hello\n");
    } else if (path.startsWith("/chunked")) {
      res.write("hel"); // no Content-Length: node sends Transfer-Encoding: chunked
      setImmediate(() => res.end("lo\n"));
    } else if (path.startsWith("/close")) {
      res.setHeader("connection", "close");
      res.end("hello\n");
    } else if (path === "/") {
      res.end("hello\n");
    } else {
      res.statusCode = 404;
      res.end("not found\n");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (!NO_CC) await ensureLoadgen();
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test("holds 2000 req/s for 2 s against a fast server, with no errors and checked bodies", {
  skip: NO_CC,
}, async () => {
  const r = await openLoop(`${base}/`, { rate: 2000, connections: 8, seconds: 2, expectBody: "hello\n" });
  assert.ok(Math.abs(r.rate_achieved - 2000) <= 100, `achieved ${r.rate_achieved} req/s`);
  assert.equal(r.errors, 0);
  assert.equal(r.non2xx, 0);
  assert.equal(r.body_mismatch, 0);
  assert.equal(r.incomplete, 0);
  assert.ok(r.completed >= 3900 && r.completed <= 4000, `completed ${r.completed}`);
  assert.ok(r.corrected.p50_ms < 5, `corrected p50 ${r.corrected.p50_ms} ms`);
  assert.ok(r.cpu_user_s + r.cpu_sys_s < 2, "the generator must not spin a core");
});

test("charges queued requests the wait behind a slow response (latency from the schedule)", {
  skip: NO_CC,
}, async () => {
  // One connection: requests due during a 50 ms pause queue up behind it; wrk-style closed-loop timing would
  // only see the one slow request.
  const r = await openLoop(`${base}/sleepy`, { rate: 1000, connections: 1, seconds: 2 });
  assert.equal(r.errors, 0);
  assert.ok(r.service.p50_ms < 5, `service p50 ${r.service.p50_ms} ms`);
  assert.ok(r.service.p90_ms < 5, `service p90 ${r.service.p90_ms} ms`);
  // The 1 % sleepy requests take ≥ 50 ms themselves, the ones due during the pause waited up to 50 ms.
  assert.ok(r.corrected.max_ms >= 50, `corrected max ${r.corrected.max_ms} ms`);
  assert.ok(r.corrected.p99_ms >= 45, `corrected p99 ${r.corrected.p99_ms} ms`);
  assert.ok(r.corrected.p90_ms >= 20, `corrected p90 ${r.corrected.p90_ms} ms`);
  assert.ok(r.backlog_max >= 20, `backlog ${r.backlog_max}`);
});

test("--trace writes one line per measured response, the slow ones with their service time", {
  skip: NO_CC,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "loadgen-trace-"));
  try {
    const trace = join(dir, "trace.txt");
    const r = await openLoop(`${base}/sleepy`, { rate: 500, connections: 4, seconds: 1, trace });
    const lines = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" ").map(Number));
    assert.equal(lines.length, r.completed);
    for (const l of lines) assert.equal(l.length, 4);
    // Exactly 5 of the 500 requests sleep 50 ms on the server; node's timers may fire a fraction of a
    // millisecond early against the client's clock, so "slow" is >= 40 ms (the others take well under 5 ms).
    // The upper bound catches slow answers that are not the sleepers, with room for a few stalls of a machine
    // busy with other test files.
    const slow = lines.filter(([, , service]) => service >= 40_000);
    assert.ok(slow.length >= 4 && slow.length <= 20, `${slow.length} responses took >= 40 ms`);
    const scheduled = lines.map(([t]) => t).sort((a, b) => a - b);
    assert.ok(
      scheduled[0] >= 0 && scheduled[scheduled.length - 1] < 1_000_000,
      "scheduled inside the 1 s window",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Poisson arrivals keep the mean rate", { skip: NO_CC }, async () => {
  const r = await openLoop(`${base}/`, { rate: 1000, connections: 4, seconds: 1, arrivals: "poisson" });
  assert.equal(r.arrivals, "poisson");
  assert.equal(r.errors, 0);
  // 1000 events: the standard deviation of a Poisson count is ~3 %.
  assert.ok(Math.abs(r.rate_achieved - 1000) <= 150, `achieved ${r.rate_achieved} req/s`);
});

test("counts 404 answers as non-2xx, and a body that differs as a mismatch", { skip: NO_CC }, async () => {
  const r = await openLoop(`${base}/missing`, {
    rate: 400,
    connections: 4,
    seconds: 0.5,
    expectBody: "hello\n",
  });
  assert.ok(r.completed >= 190, `completed ${r.completed}`);
  assert.equal(r.non2xx, r.completed);
  assert.equal(r.body_mismatch, 1); // the first response is checked (then every 1000th)
  assert.equal(r.errors, 1);
});

test("parses chunked responses", { skip: NO_CC }, async () => {
  const r = await openLoop(`${base}/chunked`, {
    rate: 400,
    connections: 4,
    seconds: 0.5,
    expectBody: "hello\n",
  });
  assert.ok(r.completed >= 190, `completed ${r.completed}`);
  assert.equal(r.errors, 0);
  assert.equal(r.body_mismatch, 0);
  assert.equal(r.incomplete, 0);
});

test("reconnects when the server answers with Connection: close", { skip: NO_CC }, async () => {
  const r = await openLoop(`${base}/close`, {
    rate: 200,
    connections: 2,
    seconds: 0.5,
    expectBody: "hello\n",
  });
  assert.ok(r.completed >= 95, `completed ${r.completed}`);
  assert.equal(r.errors, 0);
  assert.ok(r.reconnects >= r.completed - 2, `reconnects ${r.reconnects} for ${r.completed} responses`);
});

test("counts a request the server never answers as a timeout and still ends on time", {
  skip: NO_CC,
}, async () => {
  const hang = createServer(() => {});
  await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`;
    const t0 = Date.now();
    const r = await openLoop(url, { rate: 50, connections: 2, seconds: 0.5, timeoutMs: 100 });
    assert.ok(Date.now() - t0 < 5500, `took ${Date.now() - t0} ms`);
    assert.ok(r.timeouts >= 2, `timeouts ${r.timeouts}`);
    assert.equal(r.completed, 0);
  } finally {
    hang.closeAllConnections();
    hang.close();
  }
});

test("refuses hosts other than loopback", { skip: NO_CC }, async () => {
  await assert.rejects(
    openLoop("http://10.1.2.3:8080/", { rate: 10, connections: 1, seconds: 1 }),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && /loopback/.test(e.message),
  );
  // The program refuses too, on its own, with exit code 2.
  const direct = spawnSync(
    await ensureLoadgen(),
    ["--url", "http://example.com/", "--rate", "1", "--connections", "1", "--duration", "1"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(direct.status, 2);
  assert.match(direct.stderr, /only loopback hosts/);
});
