// Issue 14's benchmark (BENCH=events): timer lateness, asynchronous invocations (202 latency, throughput next to
// HTTP), queue triggers on NATS JetStream (throughput next to HTTP) and a crash test of the queue path.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ApiClient } from "../src/client/index.js";
import { startNats } from "../src/triggers/test-support.js";
import { cli, example, fixture, type Server, startServer } from "../test/e2e/harness.js";
import { cpuSeconds, mainThreadCpuSeconds } from "./procs.js";
import { fmt, printTable, type Row } from "./report.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

async function must(server: Server, ...args: string[]): Promise<void> {
  const r = await cli(server, ...args);
  if (r.code !== 0) throw new Error(`wasmlet ${args.join(" ")}: ${r.stderr}`);
}

/** One HTTP request on a kept-alive agent: status and time in ms. */
function post(agent: Agent, url: string, body: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; ms: number }>((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-length": Buffer.byteLength(body), ...headers } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Closed loop with `connections` callers for `seconds`: completed requests per second (only `ok` statuses count). */
async function closedLoop(
  url: string,
  seconds: number,
  headers: Record<string, string>,
  ok: number,
  connections = 32,
) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) if ((await post(agent, url, "x", headers)).status === ok) done++;
    }),
  );
  agent.destroy();
  return done;
}

async function timer(): Promise<Row> {
  const s = await startServer();
  try {
    await must(s, "fn", "create", "--name", "hello", "--code", example("hello/hello.wasm"));
    await must(s, "timer", "create", "--name", "tick", "--function", "hello", "--cron", "@every 1s");
    const api = new ApiClient({ server: s.controlUrl });
    await sleep(21_500);
    await must(s, "timer", "delete", "--name", "tick");
    await sleep(300);
    const fires = (await api.readLogs("hello", { limit: 1000 }))
      .filter((e) => e.trigger?.kind === "timer")
      .slice(0, 20);
    // Due on whole seconds: the start time's milliseconds are the lateness.
    const late = fires.map((e) => Date.parse(e.time) % 1000);
    return {
      run: "timer @every 1s",
      fires: fires.length,
      "lateness p50 ms": percentile(late, 50),
      "lateness p99 ms": percentile(late, 99),
    };
  } finally {
    await s.stop();
  }
}

async function asyncInvocations(seconds: number): Promise<Row[]> {
  const s = await startServer();
  try {
    await must(s, "fn", "create", "--name", "slow", "--code", fixture("sleep.wasm"), "--arg", "5000");
    await must(
      s,
      "route",
      "create",
      "--name",
      "slow",
      "--function",
      "slow",
      "--url",
      "/slow",
      "--method",
      "POST",
      "--async",
    );
    await must(s, "fn", "create", "--name", "hello", "--code", example("hello/hello.wasm"));
    await must(
      s,
      "route",
      "create",
      "--name",
      "hello",
      "--function",
      "hello",
      "--url",
      "/hello",
      "--method",
      "POST",
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const accepted: number[] = [];
    for (let i = 0; i < 200; i++) accepted.push((await post(agent, `${s.routerUrl}/slow`, `job-${i}`)).ms);
    agent.destroy();
    const http = await closedLoop(`${s.routerUrl}/hello`, seconds, {}, 200);
    const api = new ApiClient({ server: s.controlUrl });
    const before = (await api.listInvocations({ function: "hello", limit: 1 })).counts;
    const t0 = performance.now();
    const queued = await closedLoop(`${s.routerUrl}/hello`, seconds, { prefer: "respond-async" }, 202);
    for (;;) {
      const c = (await api.listInvocations({ function: "hello", limit: 1 })).counts;
      if (c.succeeded + c.dead - before.succeeded - before.dead >= queued) break;
      // Counting scans the function's invocations on the server's main thread: not too often.
      await sleep(250);
    }
    const drainedS = (performance.now() - t0) / 1000;
    return [
      {
        run: "async: 202 while the function sleeps 5 s",
        requests: 200,
        "p50 ms": fmt(percentile(accepted, 50)),
        "p95 ms": fmt(percentile(accepted, 95)),
      },
      {
        run: "async hello: completed/s vs HTTP req/s",
        "http req/s": fmt(http / seconds),
        "async done/s": fmt(queued / drainedS),
        ratio: fmt(queued / drainedS / (http / seconds)),
      },
    ];
  } finally {
    await s.stop();
  }
}

/** CPU seconds used so far by each process of the queue run: wasmlet, nats-server and this one (the load). */
function cpuOf(pids: { wasmlet?: number; nats?: number }) {
  return {
    wasmlet: cpuSeconds(pids.wasmlet),
    main: mainThreadCpuSeconds(pids.wasmlet) ?? Number.NaN,
    nats: cpuSeconds(pids.nats),
    load: cpuSeconds(process.pid),
  };
}

/** CPU µs per request (or message) of each process between two `cpuOf` readings. */
function cpuPer(before: ReturnType<typeof cpuOf>, after: ReturnType<typeof cpuOf>, count: number): Row {
  const us = (k: keyof typeof before) => fmt(((after[k] - before[k]) / count) * 1e6, 0);
  return {
    "wasmlet µs": us("wasmlet"),
    "its main thread µs": us("main"),
    "nats-server µs": us("nats"),
    "load µs": us("load"),
  };
}

/**
 * The same function through HTTP and through a queue trigger, in alternating rounds (BENCH_MQ_ROUNDS, default 1) so
 * that the machine's other load weighs on both alike. HTTP: 32 callers in a closed loop. Queue: as many messages
 * as HTTP answered in its round (at least 2,000), published at once as a JetStream producer does (each publish
 * waits for its PubAck, all pipelined), timed until the last response is stored in the response stream. Each
 * round also reports the CPU each process spent per request or message: wasmlet (and its main thread: the rest is
 * the log writer's thread, V8's, and the sandbox workers' when the runtime moved the function to them), nats-server,
 * and this process (the HTTP client, or the publisher).
 */
async function queue(seconds: number): Promise<{ rates: Row[]; cpu: Row[] }> {
  const nats = await startNats();
  const s = await startServer(undefined, ["--nats", nats.url]);
  // As a producer that publishes many messages sets it: no stack trace captured per publish.
  const nc = await connect({ servers: `127.0.0.1:${nats.port}`, noAsyncTraces: true });
  const pids = { wasmlet: s.proc.pid, nats: nats.proc.pid };
  try {
    await must(
      s,
      "fn",
      "create",
      "--name",
      "echo",
      "--code",
      example("wagi-echo/echo.wasm"),
      "--contract",
      "wagi",
    );
    await must(
      s,
      "route",
      "create",
      "--name",
      "echo",
      "--function",
      "echo",
      "--url",
      "/echo",
      "--method",
      "POST",
    );
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "BENCH_OUT", subjects: ["bench.out"] });
    await must(
      s,
      "mqt",
      "create",
      "--name",
      "m",
      "--function",
      "echo",
      "--topic",
      "bench.in",
      "--resptopic",
      "bench.out",
    );
    const api = new ApiClient({ server: s.controlUrl });
    while ((await api.getMqTrigger("m")).status?.state !== "active") await sleep(50);
    const js = jetstream(nc);
    const rates: Row[] = [];
    const cpu: Row[] = [];
    let answered = 0;
    const rounds = Number(process.env.BENCH_MQ_ROUNDS ?? 1);
    for (let round = 1; round <= rounds; round++) {
      const h0 = cpuOf(pids);
      const http = await closedLoop(`${s.routerUrl}/echo`, seconds, {}, 200);
      const h1 = cpuOf(pids);
      const n = Math.max(2000, http);
      const t0 = performance.now();
      const acks = [];
      for (let i = 0; i < n; i++) acks.push(js.publish("bench.in", `m-${i}`));
      await Promise.all(acks);
      answered += n;
      while ((await jsm.streams.info("BENCH_OUT")).state.messages < answered) await sleep(20);
      const mqRate = n / ((performance.now() - t0) / 1000);
      const m1 = cpuOf(pids);
      const run = `mqt echo: messages/s vs HTTP req/s${rounds > 1 ? ` (round ${round})` : ""}`;
      rates.push({
        run,
        "http req/s": fmt(http / seconds),
        "mq msg/s": fmt(mqRate),
        ratio: fmt(mqRate / (http / seconds)),
      });
      cpu.push({ run: `HTTP request${rounds > 1 ? ` (round ${round})` : ""}`, ...cpuPer(h0, h1, http) });
      cpu.push({ run: `queue message${rounds > 1 ? ` (round ${round})` : ""}`, ...cpuPer(h1, m1, n) });
    }
    return { rates, cpu };
  } finally {
    await nc.close();
    await s.stop();
    await nats.stop();
  }
}

/**
 * 1,000 ids through a queue trigger; wasmlet and nats-server are killed (-9) mid-run and restarted. Responses go to a
 * plain subject (no stream, so no Nats-Msg-Id deduplication) that a reconnecting subscriber counts: every run
 * after the first of an id shows as a duplicate.
 */
async function crash(): Promise<Row> {
  const dataDir = mkdtempSync(join(tmpdir(), "wasmlet-crash-"));
  let nats = await startNats();
  const port = nats.port;
  let s = await startServer(dataDir, ["--nats", nats.url]);
  const nc = await connect({
    servers: `127.0.0.1:${port}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  try {
    const seen = new Map<string, number>();
    let responses = 0;
    const sub = nc.subscribe("crash.out");
    void (async () => {
      for await (const m of sub) {
        responses++;
        const id = /body: (id-\d+)/.exec(m.string())?.[1] ?? "?";
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
    })();
    await must(
      s,
      "fn",
      "create",
      "--name",
      "echo",
      "--code",
      example("wagi-echo/echo.wasm"),
      "--contract",
      "wagi",
    );
    await must(
      s,
      "mqt",
      "create",
      "--name",
      "c",
      "--function",
      "echo",
      "--topic",
      "crash.in",
      "--resptopic",
      "crash.out",
    );
    let api = new ApiClient({ server: s.controlUrl });
    while ((await api.getMqTrigger("c")).status?.state !== "active") await sleep(50);
    const js = jetstream(nc);
    for (let i = 0; i < 1000; i++) await js.publish("crash.in", `id-${i}`);
    // Mid-run: some answered, the rest not.
    while (responses < 300) await sleep(2);
    const atKill = responses;
    await Promise.all([s.kill(), nats.kill()]);
    nats = await startNats({ dir: nats.dir, port });
    s = await startServer(dataDir, ["--nats", nats.url]);
    api = new ApiClient({ server: s.controlUrl });
    await sleep(1000);
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const info = await jsm.consumers.info("wasmlet_crash_in", "wasmlet-c");
      if ((info.num_pending === 0 && info.num_ack_pending === 0) || Date.now() > deadline) break;
      await sleep(100);
    }
    await sleep(300);
    const skipped = (await api.getMqTrigger("c")).status?.skipped ?? 0;
    const dupes = [...seen.values()].reduce((a, n) => a + n - 1, 0);
    return {
      run: "crash: 1,000 ids, kill -9 wasmlet + nats mid-run",
      "answered at kill": atKill,
      "ids answered": seen.size,
      "ran twice": dupes,
      "dup %": fmt((dupes / 1000) * 100),
      "redeliveries skipped": skipped,
    };
  } finally {
    await nc.close();
    await s.stop();
    await nats.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function benchEvents(opts: { seconds: number }): Promise<void> {
  if (spawnSync("nats-server", ["--version"]).status !== 0) {
    console.log("\n## events\n\nskipped: nats-server is not installed (apt-get install nats-server)");
    return;
  }
  // BENCH_EVENTS=timer,async,mq,crash runs some of them.
  const parts = new Set((process.env.BENCH_EVENTS ?? "timer,async,mq,crash").split(","));
  if (parts.has("timer")) printTable("events: timer", [await timer()]);
  if (parts.has("async"))
    for (const row of await asyncInvocations(opts.seconds)) printTable("events: async", [row]);
  if (parts.has("mq")) {
    const { rates, cpu } = await queue(opts.seconds);
    printTable("events: queue trigger", rates);
    printTable(
      "events: queue trigger, CPU per request or message (load: this process, the client or publisher)",
      cpu,
    );
  }
  if (parts.has("crash")) printTable("events: queue crash test", [await crash()]);
}
