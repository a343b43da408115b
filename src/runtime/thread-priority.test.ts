import assert from "node:assert/strict";
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
