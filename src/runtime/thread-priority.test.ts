import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { Worker } from "node:worker_threads";

const LINUX = existsSync("/proc/thread-self") ? false : "no /proc/thread-self (not Linux)";
const MAIN_NICE = LINUX ? 0 : niceOf(process.pid);

/** Field 19 of /proc/<pid>/task/<tid>/stat: the thread's nice value. */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

test("lowers the calling thread only, not the process", {
  skip: LINUX || (MAIN_NICE > 7 && "the tests already run at a lower priority than 7"),
}, async () => {
  const url = new URL("./thread-priority.js", import.meta.url).href;
  const worker = new Worker(
    `const { parentPort } = require("node:worker_threads");
     const { readlinkSync } = require("node:fs");
     import(${JSON.stringify(url)}).then((m) => {
       const ok = m.lowerThreadPriority(7);
       parentPort.postMessage({ ok, tid: Number(readlinkSync("/proc/thread-self").split("/").pop()) });
     });
     setInterval(() => {}, 1000);`,
    { eval: true },
  );
  try {
    const { ok, tid } = await new Promise<{ ok: boolean; tid: number }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    assert.equal(ok, true);
    assert.equal(niceOf(tid), 7);
    assert.equal(niceOf(process.pid), MAIN_NICE, "the main thread kept its priority");
  } finally {
    await worker.terminate();
  }
});

test("lowers every other thread that runs now, never raises one, and leaves the caller and later threads alone", {
  skip: LINUX || (MAIN_NICE > 0 && "the tests already run at a lower priority"),
}, () => {
  // In a process of its own: the test runner's threads stay as they are.
  const url = new URL("./thread-priority.js", import.meta.url).href;
  const script = `
    const { Worker } = require("node:worker_threads");
    const { readFileSync, readdirSync } = require("node:fs");
    const nice = (t) => { const s = readFileSync("/proc/self/task/" + t + "/stat", "utf8");
      return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[16]); };
    const start = (n) => new Promise((resolve, reject) => {
      const w = new Worker(\`const { parentPort } = require("node:worker_threads");
        import(\${JSON.stringify(${JSON.stringify(url)})}).then((m) => {
          if (\${n} > 0) m.lowerThreadPriority(\${n});
          parentPort.postMessage(Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop()));
        }); setInterval(() => {}, 1000);\`, { eval: true });
      w.once("message", (tid) => resolve({ w, tid })); w.once("error", reject);
    });
    import(${JSON.stringify(url)}).then(async (m) => {
      const low = await start(17);
      const lowered = m.lowerOtherThreads(13);
      const later = await start(0);
      const nices = Object.fromEntries(readdirSync("/proc/self/task").map((t) => [t, nice(t)]));
      console.log(JSON.stringify({ lowered, pid: process.pid, low: low.tid, later: later.tid, nices }));
      process.exit(0);
    });`;
  const out = execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20_000 });
  const r = JSON.parse(out) as {
    lowered: number;
    pid: number;
    low: number;
    later: number;
    nices: Record<string, number>;
  };
  assert.equal(r.nices[r.pid], 0, "the calling thread kept its priority");
  assert.equal(r.nices[r.low], 17, "a thread already lower was not raised");
  assert.equal(r.nices[r.later], 0, "a thread started afterwards has the caller's priority");
  const others = Object.entries(r.nices).filter(([t]) => ![r.pid, r.low, r.later].includes(Number(t)));
  assert.ok(others.length >= 4, `V8's platform threads at least: ${JSON.stringify(r.nices)}`);
  for (const [t, n] of others) assert.ok(n >= 13, `thread ${t} at nice ${n}`);
  assert.equal(r.lowered, others.length, "it counts what it lowered");
});
