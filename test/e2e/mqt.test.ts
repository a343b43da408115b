// Message-queue triggers in the real server against a real `nats-server -js`, through the real CLI.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { ApiClient } from "../../src/client/index.js";
import { type NatsServer, startNats } from "../../src/triggers/test-support.js";
import { cli, example, fixture, type Server, show, startServer, waitFor } from "./harness.js";

let nats: NatsServer;
let server: Server;
let api: ApiClient;
let nc: NatsConnection;
before(async () => {
  nats = await startNats({ auth: { user: "wl", pass: "pw" } });
  server = await startServer(undefined, [
    "--workers",
    "2",
    "--nats",
    nats.url,
    "--nats-user",
    "wl",
    "--nats-password",
    "pw",
  ]);
  api = new ApiClient({ server: server.controlUrl });
  nc = await connect({ servers: `127.0.0.1:${nats.port}`, user: "wl", pass: "pw" });
  for (const [name, code, args] of [
    ["echo", example("wagi-echo/echo.wasm"), ["--contract", "wagi"]],
    ["fail", fixture("fail.wasm"), []],
  ] as const) {
    const r = await cli(server, "fn", "create", "--name", name, "--code", code, ...args);
    assert.equal(r.code, 0, show(r));
  }
});
after(async () => {
  await nc?.close();
  await server?.stop();
  await nats?.stop();
});

function collect(subject: string): Msg[] {
  const got: Msg[] = [];
  const sub = nc.subscribe(subject);
  void (async () => {
    for await (const m of sub) got.push(m);
  })();
  return got;
}

async function active(name: string) {
  return waitFor(
    async () => {
      const t = await api.getMqTrigger(name);
      return t.status?.state === "active" ? t : undefined;
    },
    { ms: 10_000, what: () => `trigger ${name} never became active` },
  );
}

test("each message runs the function once (with --workers 2); its response goes to resptopic with a correlation id", async () => {
  const r = await cli(
    server,
    ...[
      "mqt",
      "create",
      "--name",
      "orders",
      "--function",
      "echo",
      "--mqtype",
      "nats",
      "--topic",
      "orders.in",
    ],
    ...["--resptopic", "orders.out", "--errortopic", "orders.err", "--contenttype", "text/plain"],
  );
  assert.equal(r.code, 0, show(r));
  assert.match(
    r.stdout,
    /"orders" created: nats orders\.in -> echo \(responses to orders\.out, failures to orders\.err\)/,
  );
  const t = await active("orders");
  assert.equal(t.status?.stream, "wasmlet_orders_in");
  assert.equal(t.status?.streamCreated, true);
  assert.equal(t.status?.consumer, "wasmlet-orders");
  const got = await cli(server, "mqt", "get", "--name", "orders");
  assert.match(got.stdout, /stream: wasmlet_orders_in\n\s+streamCreated: true/);

  const out = collect("orders.out");
  for (let i = 0; i < 20; i++) nc.publish("orders.in", `order-${i}`);
  await waitFor(async () => (out.length >= 20 ? true : undefined), {
    ms: 15_000,
    what: () => `${out.length} responses`,
  });
  const bodies = out.map((m) => m.string());
  for (let i = 0; i < 20; i++)
    assert.ok(
      bodies.some((b) => b.includes(`body: order-${i}\n`)),
      `order-${i} answered`,
    );
  assert.ok(bodies.every((b) => b.includes("method: POST\n")));
  for (const m of out)
    assert.match(m.headers?.get("Wasmlet-Correlation-Id") ?? "", /^wasmlet_orders_in:\d+$/);
  assert.equal(new Set(out.map((m) => m.headers?.get("Wasmlet-Correlation-Id"))).size, 20);
  // Logged once each, marked with the trigger.
  await waitFor(async () => {
    const logs = (await api.readLogs("echo", { limit: 1000 })).filter((e) => e.trigger?.kind === "mqt");
    return logs.length >= 20 ? logs : undefined;
  });
  await new Promise((r) => setTimeout(r, 500));
  const logs = (await api.readLogs("echo", { limit: 1000 })).filter((e) => e.trigger?.name === "orders");
  assert.equal(logs.length, 20, "one invocation per message");
  const fl = await cli(server, "fn", "logs", "--name", "echo");
  assert.match(fl.stdout, /mqt\/orders/);
  const list = await cli(server, "mqt", "list");
  assert.match(
    list.stdout,
    /orders\s+echo\s+nats\s+orders\.in\s+orders\.out\s+orders\.err\s+active\s+wasmlet_orders_in \(created by wasmlet\)/,
  );
});

test("a failing function is retried maxretries times, then the message goes to errortopic with the error in headers", async () => {
  let r = await cli(
    server,
    "mqt",
    "create",
    "--name",
    "jobs",
    "--function",
    "fail",
    "--topic",
    "jobs",
    "--errortopic",
    "jobs.dead",
    "--maxretries",
    "1",
  );
  assert.equal(r.code, 0, show(r));
  await active("jobs");
  const dead = collect("jobs.dead");
  nc.publish("jobs", "job-1");
  await waitFor(async () => (dead.length > 0 ? true : undefined), { ms: 10_000 });
  const [m] = dead;
  assert.equal(m.string(), "job-1");
  assert.equal(m.headers?.get("Wasmlet-Error-Status"), "500");
  assert.equal(m.headers?.get("Wasmlet-Attempts"), "2");
  assert.match(m.headers?.get("Wasmlet-Error") ?? "", /exit|status 3|failed/);
  // Invocation records reach the store in batches (100 ms): wait for both attempts, then check there is no third.
  const attempts = async () => (await api.readLogs("fail")).filter((e) => e.trigger?.name === "jobs");
  await waitFor(async () => ((await attempts()).length >= 2 ? true : undefined));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await attempts()).length, 2, "1 attempt + 1 retry");
  assert.equal((await api.getMqTrigger("jobs")).status?.failed, 1);

  r = await cli(server, "mqt", "delete", "--name", "jobs");
  assert.equal(r.code, 0, show(r));
  r = await cli(server, "mqt", "get", "--name", "jobs");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /message queue trigger "jobs" not found/);
});

test("bad input is refused naming the field; an unreachable broker shows in the trigger's state", async () => {
  for (const [args, why] of [
    [["--topic", "a b"], /^error: topic: must be a subject/],
    [["--topic", "in", "--resptopic", "in"], /^error: respTopic: must differ from topic/],
    [["--topic", "in", "--mqtype", "kafka"], /^error: mqtype: must be one of nats/],
  ] as const) {
    const r = await cli(server, "mqt", "create", "--name", "bad", "--function", "echo", ...args);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, why);
  }
  const down = await startServer(undefined, ["--nats", "nats://127.0.0.1:1"]);
  try {
    let r = await cli(
      down,
      "fn",
      "create",
      "--name",
      "echo",
      "--code",
      example("wagi-echo/echo.wasm"),
      "--contract",
      "wagi",
    );
    assert.equal(r.code, 0, show(r));
    r = await cli(down, "mqt", "create", "--name", "m", "--function", "echo", "--topic", "in");
    assert.equal(r.code, 0, show(r));
    const client = new ApiClient({ server: down.controlUrl });
    const t = await waitFor(async () => {
      const v = await client.getMqTrigger("m");
      return v.status?.state === "error" ? v : undefined;
    });
    assert.match(
      t.status?.lastError ?? "",
      /cannot reach NATS at nats:\/\/127\.0\.0\.1:1 .*check serve --nats/,
    );
  } finally {
    await down.stop();
  }
});
