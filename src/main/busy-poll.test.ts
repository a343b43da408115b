import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_BUSY_POLL_US } from "../core/index.js";
import {
  BusyPoll,
  CONTENTION_BACKOFF_MS,
  defaultBusyPollUs,
  RunQueueWait,
  usableCores,
} from "./busy-poll.js";

/** A BusyPoll on a clock the test moves, whose scheduled spins run only when the test says. */
function manual(windowUs: number) {
  let t = 0;
  const queue: (() => void)[] = [];
  let busyElsewhere = false;
  let waitedNs = 0;
  const poll = new BusyPoll(windowUs, {
    now: () => t,
    schedule: (f) => queue.push(f),
    otherWork: () => busyElsewhere,
    contentionShare: 0.1,
    runQueueWaitNs: () => {
      const w = waitedNs;
      waitedNs = 0;
      return w;
    },
  });
  return {
    poll,
    /** The request thread waited this long for its core (as its schedstat would say). */
    waited(ms: number) {
      waitedNs += ms * 1e6;
    },
    setOtherWork(v: boolean) {
      busyElsewhere = v;
    },
    advance(ms: number) {
      t += ms;
    },
    /** Runs what is scheduled now (one turn of the loop); returns how many spins ran. */
    turn() {
      const due = queue.splice(0);
      for (const f of due) f();
      return due.length;
    },
  };
}

test("a request after a quiet spell does not start a spin; one close behind it does", () => {
  const m = manual(200);
  m.poll.arrived();
  assert.equal(m.poll.active, false, "the first request ever finds nothing to spin for");
  m.advance(0.5); // 500 µs later: longer than the window
  m.poll.arrived();
  assert.equal(m.poll.active, false);
  m.advance(0.1); // 100 µs later: within the window
  m.poll.arrived();
  assert.equal(m.poll.active, true);
});

test("the spin keeps the loop awake until the window has passed with no request, then stops", () => {
  const m = manual(200);
  m.poll.arrived();
  m.advance(0.05);
  m.poll.arrived();
  let turns = 0;
  for (let i = 0; i < 10; i++) {
    m.advance(0.01);
    turns += m.turn();
  }
  assert.equal(turns, 10, "one spin per loop turn while within the window");
  m.advance(0.05);
  m.poll.arrived(); // a request inside the window extends it
  m.advance(0.15);
  assert.equal(m.turn(), 1);
  assert.equal(m.poll.active, true, "150 µs after the last request, still within 200 µs");
  m.advance(0.06);
  assert.equal(m.turn(), 1);
  assert.equal(m.poll.active, false, "210 µs after the last request, the spin ends");
  assert.equal(m.turn(), 0, "and nothing is scheduled any more");
  m.poll.arrived(); // 210 µs after the last one: a gap over the window, no new spin
  assert.equal(m.poll.active, false);
  assert.equal(m.turn(), 0);
});

test("no spin while other threads of the process have work (sandbox workers running functions)", () => {
  const m = manual(200);
  m.poll.arrived();
  m.setOtherWork(true);
  m.advance(0.05);
  m.poll.arrived();
  assert.equal(m.poll.active, false, "a worker is busy: the request thread may sleep");
  m.setOtherWork(false);
  m.advance(0.05);
  m.poll.arrived();
  assert.equal(m.poll.active, true);
  m.advance(0.05);
  assert.equal(m.turn(), 1);
  m.setOtherWork(true); // a function was demoted to a worker meanwhile
  assert.equal(m.turn(), 1);
  assert.equal(m.poll.active, false, "the spin gives way at its next turn");
  assert.equal(m.turn(), 0);
});

test("a spin gives its core up when the thread has to wait for it, and stays off for a while", () => {
  const m = manual(200);
  m.poll.arrived();
  m.advance(0.05);
  m.poll.arrived();
  assert.equal(m.poll.active, true);
  // Spinning steadily (requests every 100 µs) while another thread takes 50 µs of this core per ms: tolerated.
  for (let i = 0; i < 30; i++) {
    m.advance(0.1);
    m.poll.arrived();
    if (i % 10 === 9) m.waited(0.05);
    m.turn();
  }
  assert.equal(m.poll.active, true, "a little waiting (5 % of the time) does not stop the spin");
  assert.equal(m.poll.yields, 0);
  // Now the core is shared: 0.4 ms of every ms spent waiting for it.
  m.waited(0.4);
  m.advance(1);
  m.poll.arrived();
  m.turn();
  assert.equal(m.poll.active, false, "the spin stops once it sees it is taking turns with another thread");
  assert.equal(m.poll.yields, 1);
  assert.equal(m.turn(), 0);
  for (let i = 0; i < 10; i++) {
    m.advance(0.05);
    m.poll.arrived();
  }
  assert.equal(m.poll.active, false, "requests close together do not restart it during the back-off");
  m.advance(CONTENTION_BACKOFF_MS);
  m.poll.arrived();
  m.advance(0.05);
  m.poll.arrived();
  assert.equal(m.poll.active, true, "after the back-off it spins again");
});

test("the run-queue wait of the calling thread is read from /proc (never negative, 0 where unavailable)", () => {
  const wait = RunQueueWait.forThisThread();
  const end = performance.now() + 20;
  while (performance.now() < end); // run a little so the count moves if the core is shared
  const w = wait();
  assert.ok(Number.isFinite(w) && w >= 0, `wait ${w}`);
  assert.equal(RunQueueWait.forThisThread("/nonexistent/schedstat")(), 0);
});

test("with the real loop, a spin ends by itself and the process goes idle", async () => {
  const poll = new BusyPoll(2000);
  poll.arrived();
  poll.arrived();
  assert.equal(poll.active, true);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(poll.active, false);
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 200));
  const used = process.cpuUsage(before);
  assert.ok(
    used.user + used.system < 50_000,
    `idle for 200 ms but used ${used.user + used.system} µs of CPU`,
  );
});

test("serve spins by default only when a core is left beside the router processes", () => {
  assert.equal(defaultBusyPollUs(1, 2), DEFAULT_BUSY_POLL_US);
  assert.equal(defaultBusyPollUs(2, 2), 0);
  assert.equal(defaultBusyPollUs(1, 1), 0);
  assert.equal(defaultBusyPollUs(3, 8), DEFAULT_BUSY_POLL_US);
});

test("a cgroup CPU quota caps the cores (a 1-CPU container on a big host does not spin)", () => {
  assert.equal(usableCores("max 100000\n", 8), 8);
  assert.equal(usableCores("100000 100000\n", 8), 1);
  assert.equal(usableCores("250000 100000\n", 8), 2);
  assert.equal(usableCores("50000 100000\n", 8), 1, "half a CPU still counts as one");
  assert.equal(usableCores("800000 100000\n", 2), 2, "a quota above the CPUs does not add any");
  assert.equal(usableCores(undefined, 4), 4, "no cgroup v2 file: the CPUs");
  assert.equal(defaultBusyPollUs(1, usableCores("100000 100000\n", 8)), 0);
});
