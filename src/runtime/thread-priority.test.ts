import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { v8PoolSize } from "./thread-priority.js";

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

/** Runs `script` in a node process of its own with `flags` (the test runner's threads stay as they are). */
function child<T>(flags: string[], script: string): T {
  const out = execFileSync(process.execPath, [...flags, "-e", script], { encoding: "utf8", timeout: 20_000 });
  return JSON.parse(out) as T;
}

const V8_THREADS_SCRIPT = (url: string) => `
  const { Worker } = require("node:worker_threads");
  const { readFileSync, readdirSync } = require("node:fs");
  const nice = (t) => { const s = readFileSync("/proc/self/task/" + t + "/stat", "utf8");
    return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[16]); };
  const nices = () => Object.fromEntries(readdirSync("/proc/self/task").map((t) => [t, nice(t)]));
  (async () => {
    // libuv's pool starts with the first file read, as the module loader's does in serve.
    await require("node:fs/promises").readFile(process.execPath, { flag: "r" }).then(() => {});
    const m = await import(${JSON.stringify(url)});
    const threads = m.v8PlatformThreads();
    const first = m.lowerV8Threads(17);
    const again = m.lowerV8Threads(13);
    const later = await new Promise((resolve, reject) => {
      const w = new Worker("require('node:worker_threads').parentPort.postMessage(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())); setInterval(() => {}, 1000)", { eval: true });
      w.once("message", resolve); w.once("error", reject);
    });
    console.log(JSON.stringify({ pid: process.pid, threads, first, again, later, nices: nices() }));
    process.exit(0);
  })();`;

interface V8ThreadsResult {
  pid: number;
  threads: number[];
  first: number;
  again: number;
  later: number;
  nices: Record<string, number>;
}

test("lowers V8's delayed-task thread and platform workers only, never raises one, leaves libuv's pool and later threads", {
  skip: LINUX || (MAIN_NICE > 0 && "the tests already run at a lower priority"),
}, () => {
  const url = new URL("./thread-priority.js", import.meta.url).href;
  for (const [flags, size] of [
    [[], 4],
    [["--v8-pool-size=2"], 2],
  ] as const) {
    const r = child<V8ThreadsResult>([...flags], V8_THREADS_SCRIPT(url));
    const what = `node ${flags.join(" ")}: ${JSON.stringify(r)}`;
    assert.equal(r.threads.length, 1 + size, what);
    assert.equal(r.first, 1 + size, `all of them lowered: ${what}`);
    assert.equal(r.again, 0, `none raised back to 13: ${what}`);
    for (const t of r.threads) assert.equal(r.nices[t], 17, what);
    assert.equal(r.nices[r.pid], 0, `the main thread kept its priority: ${what}`);
    assert.equal(r.nices[r.later], 0, `a thread started afterwards has the main thread's: ${what}`);
    const rest = Object.keys(r.nices).filter((t) => !r.threads.includes(Number(t)) && Number(t) !== r.pid);
    // libuv's 4 pool threads (and node's signal thread) are there and untouched.
    assert.ok(rest.length >= 5, what);
    for (const t of rest) assert.equal(r.nices[t], 0, `thread ${t}: ${what}`);
  }
});

test("v8PoolSize reads node's --v8-pool-size as node does", () => {
  assert.equal(v8PoolSize([]), 4);
  assert.equal(v8PoolSize(["--v8-pool-size=2"]), 2);
  assert.equal(v8PoolSize(["--v8-pool-size", "7"]), 7);
  assert.equal(v8PoolSize(["--v8-pool-size=3", "--v8-pool-size=6"]), 6, "the last one counts");
  assert.equal(v8PoolSize(["--v8-pool-size=0"]), Math.max(1, availableParallelism() - 1));
});
