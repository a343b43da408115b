import assert from "node:assert/strict";
import { Agent, request, type Server } from "node:http";
import { test } from "node:test";
import { DEFAULT_HTTP_LIMITS } from "../core/index.js";
import { Drain } from "./drain.js";
import { createBoundedServer } from "./http-limits.js";
import { listen } from "./listen.js";

/** A server whose `/stream` sends its headers and a first chunk at once and the rest after `ms`. */
async function streaming(ms: number): Promise<{ server: Server; drain: Drain; url: string }> {
  const drain = new Drain();
  const server = drain.add(
    createBoundedServer(
      DEFAULT_HTTP_LIMITS,
      drain.wrap((_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first ");
        setTimeout(() => res.end("last"), ms);
      }),
    ),
  );
  const at = await listen(server, { host: "127.0.0.1", port: 0 });
  return { server, drain, url: `http://127.0.0.1:${at.port}` };
}

function get(url: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

test("a response whose headers were out before the drain finishes, then its kept-alive connection closes", async () => {
  const { drain, url } = await streaming(400);
  const agent = new Agent({ keepAlive: true });
  const answer = get(`${url}/stream`, agent);
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  const report = await drain.drain(10_000);
  const { status, body } = await answer;
  assert.deepEqual({ status, body }, { status: 200, body: "first last" });
  assert.equal(report.cut, 0);
  // The drain resolves once the server has closed every connection (the kept-alive one included), long before
  // its timeout.
  assert.ok(performance.now() - t0 < 3000, `drained in ${Math.round(performance.now() - t0)} ms`);
  agent.destroy();
});

test("probes: /livez 200 throughout, /readyz 200 until the drain; a second drain cuts at once", async () => {
  const { drain, url } = await streaming(60_000);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  for (const path of ["/livez", "/readyz", "/livez?x=1"]) {
    const r = await get(`${url}${path}`, agent);
    assert.deepEqual([r.status, r.body], [200, "ok\n"], path);
  }
  const long = get(`${url}/stream`, agent).catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 100));
  const first = drain.drain(60_000);
  assert.equal(drain.draining, true);
  const t0 = performance.now();
  const second = await drain.drain(60_000);
  assert.equal(second.cut, 1);
  assert.ok(performance.now() - t0 < 2000);
  assert.ok((await long) instanceof Error, "the request cut fails at its client");
  await first;
  agent.destroy();
});

test("an event stream (the dashboard's) ends when the drain starts instead of holding it to the timeout", async () => {
  const drain = new Drain();
  const server = drain.add(
    createBoundedServer(
      DEFAULT_HTTP_LIMITS,
      drain.wrap((_req, res) => {
        res.setHeader("content-type", "text/event-stream; charset=utf-8");
        res.writeHead(200);
        res.write("event: snapshot\ndata: {}\n\n");
      }),
    ),
  );
  const at = await listen(server, { host: "127.0.0.1", port: 0 });
  const agent = new Agent({ keepAlive: true });
  const stream = get(`http://127.0.0.1:${at.port}/events`, agent);
  await new Promise((r) => setTimeout(r, 100));
  const report = await drain.drain(20_000);
  assert.ok(report.ms < 3000, `drained in ${report.ms} ms`);
  assert.equal(report.cut, 0);
  assert.equal((await stream).body, "event: snapshot\ndata: {}\n\n");
  agent.destroy();
});

test("the responses in flight are counted right after many have come and gone: a drain cuts exactly those left", async () => {
  const drain = new Drain();
  const timers: NodeJS.Timeout[] = [];
  const server = drain.add(
    createBoundedServer(
      DEFAULT_HTTP_LIMITS,
      drain.wrap((req, res) => {
        if (req.url === "/slow") timers.push(setTimeout(() => res.end("late"), 10_000));
        else res.end("ok");
      }),
    ),
  );
  const at = await listen(server, { host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${at.port}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  // Waves of concurrent requests: slots are taken and given back many times over.
  for (let wave = 0; wave < 20; wave++)
    await Promise.all(Array.from({ length: 16 }, () => get(`${url}/fast`, agent)));
  const slow = Array.from({ length: 5 }, () => get(`${url}/slow`, new Agent()).catch(() => undefined));
  await new Promise((r) => setTimeout(r, 200));
  const report = await drain.drain(300);
  assert.equal(report.cut, 5);
  await Promise.all(slow);
  for (const t of timers) clearTimeout(t);
  agent.destroy();
});
