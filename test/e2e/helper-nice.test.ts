// `serve --helper-nice`: V8's threads (its background compiles and GC helpers) yield to the request threads, in the
// serve process and in every router process of --workers; libuv's pool and serve's own threads keep theirs.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { v8PoolSize } from "../../src/runtime/thread-priority.js";
import { cli, startServer } from "./harness.js";

const LINUX = existsSync("/proc/self/task") ? false : "no /proc/self/task (not Linux)";

/** Nice value of each thread of `pid`, by thread id. */
function nices(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      out.set(Number(t), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

function assertLowered(pid: number, nice: number, what: string) {
  const n = nices(pid);
  assert.equal(n.get(pid), 0, `${what}: the request thread keeps its priority`);
  const low = [...n].filter(([t, v]) => t !== pid && v === nice);
  // V8's delayed-task thread and its platform workers: as many as the process's node flags ask for (serve's own
  // --v8-pool-size=0: one fewer than the CPUs, at least one; node's default is 4).
  const flags = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  const expected = 1 + v8PoolSize(flags);
  assert.equal(low.length, expected, `${what}: V8's threads at ${nice}: ${JSON.stringify([...n])}`);
  const normal = [...n].filter(([t, v]) => t !== pid && v === 0);
  assert.ok(
    normal.length >= 4,
    `${what}: libuv's pool keeps the request thread's priority: ${JSON.stringify([...n])}`,
  );
}

test("--helper-nice 19 lowers V8's threads, keeps the request thread's, libuv's pool's and serve's own threads' priorities", {
  skip: LINUX,
}, async () => {
  const s = await startServer(undefined, ["--helper-nice", "19"]);
  try {
    const pid = s.proc.pid as number;
    assertLowered(pid, 19, "serve");
    // Threads serve starts itself set their own (the pool worker 5, the log writer 10) or keep the request
    // thread's (the compile thread): not all of the others are at 19.
    const others = [...nices(pid)].filter(([t]) => t !== pid);
    assert.ok(
      others.some(([, v]) => v < 19),
      `threads started by serve: ${JSON.stringify(others)}`,
    );
  } finally {
    await s.stop();
  }
});

test("by default (and with --helper-nice 0) they are left; --helper-nice 7 in every router process of --workers 2", {
  skip: LINUX,
}, async () => {
  const off = await startServer();
  try {
    const pid = off.proc.pid as number;
    const n = nices(pid);
    const v8 = [...n].filter(([t, v]) => t !== pid && v === 0);
    // V8's 2 or more, libuv's 4, node's signal thread and the compile thread at least; pool workers and the log
    // writer lower themselves.
    assert.ok(v8.length >= 8, `V8's threads left at 0 by default: ${JSON.stringify([...n])}`);
  } finally {
    await off.stop();
  }
  const s = await startServer(undefined, ["--workers", "2", "--helper-nice", "7"]);
  try {
    const pid = s.proc.pid as number;
    assertLowered(pid, 7, "primary");
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    const routers = children.filter((c) => /router-worker/.test(readFileSync(`/proc/${c}/cmdline`, "utf8")));
    assert.equal(routers.length, 2, `router processes among ${children.join(" ")}`);
    for (const r of routers) assertLowered(r, 7, `router ${r}`);
  } finally {
    await s.stop();
  }
});

test("--helper-nice out of range is refused with the reason", async () => {
  for (const v of ["20", "-1", "x"]) {
    const r = await cli(undefined, "serve", "--helper-nice", v, "--data-dir", "/nonexistent");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`--helper-nice: "${v}" is not a whole number from 0 to 19`));
  }
});
