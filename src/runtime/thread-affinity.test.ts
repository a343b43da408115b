import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { allowedCpus, currentTid, parseCpuList, pinThread, routerCpus } from "./thread-affinity.js";

test("CPU lists parse as the kernel writes them, and nonsense is refused with the list named", () => {
  assert.deepEqual(parseCpuList("0"), [0]);
  assert.deepEqual(parseCpuList("0-3"), [0, 1, 2, 3]);
  assert.deepEqual(parseCpuList("4,0-1,1"), [0, 1, 4]);
  assert.throws(() => parseCpuList("a-b"), /not a CPU list: "a-b"/);
  assert.throws(() => parseCpuList("3-1"), /goes down/);
  assert.deepEqual(allowedCpus("Name:\tnode\nCpus_allowed_list:\t0-1\n"), [0, 1]);
  assert.deepEqual(allowedCpus("Name:\tnode\n"), []);
});

test("each router's request thread gets a CPU; helpers get the CPUs no router uses, or all when none is left", () => {
  assert.deepEqual(routerCpus(0, 1, [0, 1]), { request: 0, helpers: [1] });
  assert.deepEqual(routerCpus(0, 2, [0, 1]), { request: 0, helpers: [0, 1] });
  assert.deepEqual(routerCpus(1, 2, [0, 1]), { request: 1, helpers: [0, 1] });
  assert.deepEqual(routerCpus(1, 2, [2, 3, 4, 5]), { request: 3, helpers: [4, 5] });
  assert.deepEqual(
    routerCpus(2, 2, [0, 1]),
    { request: 0, helpers: [0, 1] },
    "a replacement router wraps around",
  );
  assert.equal(routerCpus(0, 1, [0]), undefined, "one CPU: nothing to separate");
});

test("a thread pinned to one CPU runs only there (checked in a worker thread, as the kernel reports it)", async (t) => {
  const cpus = allowedCpus();
  if (cpus.length < 2 || currentTid() === undefined) return t.skip("needs Linux and 2 CPUs");
  const target = cpus[cpus.length - 1];
  // A worker pins itself and reports its own allowed list; the main thread's stays as it was.
  const url = new URL("./thread-affinity.js", import.meta.url).href;
  const w = new Worker(
    `import(${JSON.stringify(url)}).then((m) => {
       const ok = m.pinThread([${target}]);
       const fs = require("node:fs");
       const list = /Cpus_allowed_list:\\s*(\\S+)/.exec(fs.readFileSync("/proc/thread-self/status", "utf8"))[1];
       require("node:worker_threads").parentPort.postMessage({ ok, list });
     });`,
    { eval: true },
  );
  const msg = await new Promise<{ ok: boolean; list: string }>((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  });
  await w.terminate();
  assert.equal(msg.ok, true);
  assert.equal(msg.list, String(target));
  const mine = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/thread-self/status", "utf8"))?.[1];
  assert.deepEqual(parseCpuList(mine ?? ""), cpus, "the calling thread is not affected");
  assert.equal(pinThread([target], 999_999_999), false, "an unknown thread is reported, not thrown");
});
