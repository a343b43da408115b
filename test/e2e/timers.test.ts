// Timers in the real server with `--workers 2`: each fire runs once, on time, through the runtime and its log.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ApiClient } from "../../src/client/index.js";
import type { LogEntry } from "../../src/core/index.js";
import { cli, example, type Server, show, startServer, waitFor } from "./harness.js";

let server: Server;
let api: ApiClient;
before(async () => {
  server = await startServer(undefined, ["--workers", "2"]);
  api = new ApiClient({ server: server.controlUrl });
  const c = await cli(server, "fn", "create", "--name", "hello", "--code", example("hello/hello.wasm"));
  assert.equal(c.code, 0, show(c));
});
after(async () => {
  await server?.stop();
});

const timerEntries = async (name: string): Promise<LogEntry[]> =>
  (await api.readLogs("hello", { limit: 1000 })).filter(
    (e) => e.trigger?.kind === "timer" && e.trigger.name === name,
  );

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

test("a timer fires each due second once (not once per process), on time, logged with its trigger; delete stops it", async (t) => {
  const c = await cli(
    server,
    "timer",
    "create",
    "--name",
    "tick",
    "--function",
    "hello",
    "--cron",
    "* * * * * *",
  );
  assert.equal(c.code, 0, show(c));
  assert.match(c.stdout, /timer "tick" created: "\* \* \* \* \* \*" -> POST \/ of hello; next fire \d{4}-/);
  const createdAt = Date.now();
  await sleep(16_000);
  const g = await cli(server, "timer", "get", "--name", "tick", "-o", "json");
  assert.equal(g.code, 0, show(g));
  const view = JSON.parse(g.stdout);
  assert.equal(view.status.state, "active");
  assert.equal(view.status.last.status, 200);
  const d = await cli(server, "timer", "delete", "--name", "tick");
  assert.equal(d.code, 0, show(d));
  const deletedAt = Date.now();
  await sleep(1500);

  const entries = await timerEntries("tick");
  const seconds = entries.map((e) => Math.floor(Date.parse(e.time) / 1000));
  assert.equal(new Set(seconds).size, seconds.length, "each due second fired once, with 3 processes serving");
  const expected = Math.floor((deletedAt - createdAt) / 1000);
  assert.ok(
    entries.length >= expected - 1 && entries.length <= expected + 1,
    `${entries.length} fires in ${expected} s`,
  );
  assert.ok(
    entries.every((e) => Date.parse(e.time) <= deletedAt),
    "nothing fired after the delete returned",
  );
  assert.ok(entries.every((e) => e.status === 200 && e.stderr === ""));
  assert.ok(view.status.fired >= expected - 2, `status says ${view.status.fired} fires`);

  // Each fire is due on a whole second: the log's start time past it is the lateness (scheduler + runtime entry).
  const lateness = entries.map((e) => Date.parse(e.time) % 1000).sort((a, b) => a - b);
  const p50 = percentile(lateness, 50);
  const p99 = percentile(lateness, 99);
  t.diagnostic(
    `timer lateness over ${lateness.length} fires: p50 ${p50} ms, p99 ${p99} ms, max ${lateness.at(-1)} ms`,
  );
  assert.ok(p50 < 100, `p50 lateness ${p50} ms`);
  // The target is p99 < 250 ms; on a loaded 2-core machine one straggler among 15 is tolerated here (the bench
  // measures p99 over more fires).
  assert.ok(lateness.filter((l) => l >= 250).length <= 1, `lateness: ${lateness.join(", ")} ms`);

  const logs = await cli(server, "fn", "logs", "--name", "hello");
  assert.match(logs.stdout, /200 {2}\S+ms {2}[0-9a-f]{12} {2}timer\/tick/);
});

test("an update takes effect within a second; list, showschedule and bad schedules through the CLI", async () => {
  let r = await cli(
    server,
    "timer",
    "create",
    "--name",
    "later",
    "--function",
    "hello",
    "--cron",
    "@yearly",
    "--subpath",
    "/x",
  );
  assert.equal(r.code, 0, show(r));
  r = await cli(server, "timer", "list");
  assert.match(r.stdout, /NAME\s+CRON\s+FUNCTION\s+METHOD\s+SUBPATH\s+STATE\s+NEXT FIRE\s+LAST STATUS/);
  assert.match(r.stdout, /later\s+@yearly\s+hello\s+POST\s+\/x\s+active\s+\d{4}-01-01T/);
  const updatedAt = Date.now();
  r = await cli(server, "timer", "update", "--name", "later", "--cron", "@every 1s");
  const returnedAt = Date.now();
  assert.equal(r.code, 0, show(r));
  const first = await waitFor(async () => (await timerEntries("later"))[0], { ms: 4000, intervalMs: 50 });
  // The update is seen at once (same process); the fire is the next whole second after it, so at most a second
  // (and the timer's lateness) after the CLI returned. Counted from then, not from the CLI's start: starting a node
  // process for the CLI took ~250 ms of that on a quiet machine, and 1,277 ms from its start failed the bound once.
  const fired = Date.parse(first.time);
  assert.ok(fired >= updatedAt, "no fire before the update");
  assert.ok(
    fired - returnedAt <= 1100,
    `first fire ${fired - returnedAt} ms after the update returned (${fired - updatedAt} ms after it began)`,
  );
  r = await cli(server, "timer", "delete", "--name", "later");
  assert.equal(r.code, 0, show(r));

  r = await cli(server, "timer", "showschedule", "--cron", "@every 1m30s", "--round", "3");
  assert.equal(r.code, 0, show(r));
  const fires = r.stdout.trim().split("\n").slice(1).map(Date.parse);
  assert.equal(fires.length, 3, r.stdout);
  assert.deepEqual([fires[1] - fires[0], fires[2] - fires[1]], [90_000, 90_000]);

  for (const [cron, why] of [
    ["0 0 0 1 1 * 2031", /7 fields/],
    ["every tuesday", /not a valid schedule/],
  ] as const) {
    r = await cli(server, "timer", "create", "--name", "bad", "--function", "hello", "--cron", cron);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /^error: cron: /);
    assert.match(r.stderr, why);
  }
  r = await cli(server, "timer", "create", "--name", "bad", "--function", "nope", "--cron", "@daily");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: function: function "nope" not found/);
});
