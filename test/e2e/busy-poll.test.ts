// `serve --busy-poll-us`: the request thread stays awake while traffic is steady; an idle server uses no CPU.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { after, before, test } from "node:test";
import { deploy, example, mainThreadCpuSeconds, type Server, startServer } from "./harness.js";

let spinning: Server;
let sleeping: Server;
before(async () => {
  // The longest window (10 ms): a client that falls behind on a loaded machine rarely lets the spin lapse, and a
  // spin which failed to stop would show as a whole core of CPU below.
  spinning = await startServer(undefined, ["--busy-poll-us", "10000"]);
  sleeping = await startServer(undefined, ["--busy-poll-us", "0"]);
  for (const s of [spinning, sleeping])
    await deploy(s, { name: "hello", code: example("hello/hello.wasm"), route: ["--url", "/hello"] });
});
after(async () => {
  await spinning?.stop();
  await sleeping?.stop();
});

/** Times the request thread went to sleep by itself (in epoll_wait, when the loop has nothing to do). */
function mainThreadSleeps(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]);
}

/** 400 back-to-back requests from 4 clients; returns how often the server's request thread slept meanwhile. */
async function burst(server: Server): Promise<number> {
  const pid = server.proc.pid as number;
  const before = mainThreadSleeps(pid);
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 100; i++) {
        const r = await fetch(`${server.routerUrl}/hello`);
        assert.equal(r.status, 200);
        assert.equal(await r.text(), "hello\n");
      }
    }),
  );
  return mainThreadSleeps(pid) - before;
}

/** A counter of the server's /metrics (0 when absent). */
async function counter(server: Server, name: string): Promise<number> {
  const text = await (await fetch(`${server.controlUrl}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
}

test("requests are answered while the loop spins, and the server is idle again once they stop", async () => {
  // Without the spin the thread sleeps between most requests (measured: ~300 times in 400 requests); with it,
  // only when the clients fall behind by more than the window (measured: 10) — unless other threads wanted its
  // CPU meanwhile: then the spin gives the core up (and counts it) rather than share it half and half.
  const off = await burst(sleeping);
  const yieldsBefore = await counter(spinning, "wasmlet_router_busy_poll_yields_total");
  const on = await burst(spinning);
  const yielded = (await counter(spinning, "wasmlet_router_busy_poll_yields_total")) - yieldsBefore;
  assert.ok(
    on * 3 < off || yielded > 0,
    `the request thread slept ${on} times with --busy-poll-us 10000, ${off} times with 0, and never gave its core up`,
  );
  assert.ok((await counter(spinning, "wasmlet_router_busy_poll_seconds_total")) > 0, "spin time is counted");
  assert.equal(await counter(sleeping, "wasmlet_router_busy_poll_seconds_total"), 0, "no poll, no spin time");
  // Traffic stops: within the window the spin ends, then the thread sleeps.
  await new Promise((r) => setTimeout(r, 100));
  const pid = spinning.proc.pid as number;
  const cpu = mainThreadCpuSeconds(pid);
  await new Promise((r) => setTimeout(r, 1000));
  const cpuAfter = mainThreadCpuSeconds(pid);
  assert.ok(cpu !== undefined && cpuAfter !== undefined, "cannot read the server's /proc schedstat");
  const idle = cpuAfter - cpu;
  assert.ok(idle < 0.1, `the idle server's request thread used ${(idle * 1000).toFixed(0)} ms of CPU in 1 s`);
});

test("--cpu-affinity auto: the request thread alone on a CPU, every other thread elsewhere, and it still spins", async (t) => {
  const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  if (!allowed || !/[-,]/.test(allowed)) return t.skip("needs 2 CPUs");
  const s = await startServer(undefined, ["--cpu-affinity", "auto", "--request-slice-us", "100"]);
  try {
    assert.match(s.output(), /request thread on CPU 0, its other threads on CPU 1/);
    await deploy(s, { name: "hello", code: example("hello/hello.wasm"), route: ["--url", "/hello"] });
    await burst(s); // starts pool/log threads too
    const pid = s.proc.pid as number;
    const list = (tid: string) =>
      /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"))?.[1];
    assert.equal(list(String(pid)), "0");
    const sched = readFileSync(`/proc/${pid}/task/${pid}/sched`, "utf8");
    const slice = Number(/se\.slice\s*:\s*(\d+)/.exec(sched)?.[1]);
    // Kernels before 6.12 keep their own slice; this machine's (6.18) takes the request thread's 0.1 ms.
    if (/^(6\.(1[2-9]|[2-9]\d)|[7-9]\.)/.test(release()))
      assert.equal(slice, 100_000, "the request thread's slice");
    // Threads started since the last sweep (every 5 s) may still be on CPU 0; worker threads pin themselves.
    await new Promise((r) => setTimeout(r, 5500));
    const others = readdirSync(`/proc/${pid}/task`).filter((tid) => tid !== String(pid));
    assert.ok(others.length > 3);
    for (const tid of others) assert.equal(list(tid), "1", `thread ${tid}`);
    // A spin starts only when requests come less than the window (200 µs) apart: one burst of this test's fetch
    // loops gave 0-3 ms of spin in all (0 in 1 of 4 runs here), so a few more bursts are allowed. With the poll
    // off (a server that thought it had one CPU) no burst spins at all.
    let spun = await counter(s, "wasmlet_router_busy_poll_seconds_total");
    for (let i = 0; i < 5 && spun === 0; i++) {
      await burst(s);
      spun = await counter(s, "wasmlet_router_busy_poll_seconds_total");
    }
    assert.ok(spun > 0, "the busy-poll is on: pinning does not make serve think it has one CPU");
  } finally {
    await s.stop();
  }
});
