import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { isWasmletError } from "../../core/index.js";
import { WasiExit, WasiHost } from "./index.js";
import { fixture, runFixture } from "./test-support.js";

const enc = new TextEncoder();

test("argv and environ round-trip UTF-8 (sizes in bytes, not UTF-16 units)", () => {
  const host = new WasiHost();
  const args = ["/args-env.wasm", "héllo", "日本", "", "emoji 🎉"];
  const env = ["A=1", "ÜBER=ü", "EMPTY="];
  const r = runFixture(host, "args-env", args, { env });
  assert.equal(r.exitCode, 0);
  const expected = [`argc=${args.length}`, ...args.map((a) => `arg:${a}`), ...env.map((e) => `env:${e}`)];
  assert.equal(r.out, `${expected.join("\n")}\n`);
});

test("a new args array is re-encoded, the same array object is reused", () => {
  const host = new WasiHost();
  const first = ["/a.wasm", "one"];
  assert.equal(runFixture(host, "args-env", first).out, "argc=2\narg:/a.wasm\narg:one\n");
  assert.equal(runFixture(host, "args-env", first).out, "argc=2\narg:/a.wasm\narg:one\n");
  const second = ["/a.wasm", "twö", "three"];
  assert.equal(runFixture(host, "args-env", second).out, "argc=3\narg:/a.wasm\narg:twö\narg:three\n");
});

test("begin() refuses an argument or env entry containing NUL", () => {
  const host = new WasiHost();
  const stdin = new Uint8Array(0);
  assert.throws(
    () => host.begin({ args: ["/a.wasm", "x\0y"], env: [], stdin }),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && /args/.test(e.message),
  );
  assert.throws(
    () => host.begin({ args: [], env: ["A=\0"], stdin }),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && /env/.test(e.message),
  );
});

test("stdin is the request body, then EOF; stdout is what the module wrote", () => {
  const host = new WasiHost();
  const body = randomBytes(25_000);
  const r = runFixture(host, "echo", ["/echo.wasm"], { stdin: body });
  assert.equal(r.exitCode, 0);
  assert.deepEqual(Buffer.from(r.stdout), body);
  const empty = runFixture(host, "echo", ["/echo.wasm"]);
  assert.equal(empty.exitCode, 0);
  assert.equal(empty.stdout.length, 0);
});

test("exit(3) surfaces as WasiExit, stdout and stderr are kept, and the host is reusable after it", () => {
  const host = new WasiHost();
  const failed = runFixture(host, "exit", ["/exit.wasm", "3", "boom: bad input"]);
  assert.equal(failed.exitCode, 3);
  assert.equal(failed.out, "before exit\n");
  assert.equal(failed.err, "boom: bad input");
  const ok = runFixture(host, "exit", ["/exit.wasm", "0", "fine"]);
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.out, "before exit\n");
  assert.equal(ok.err, "fine");
  const echo = runFixture(host, "echo", ["/echo.wasm"], { stdin: enc.encode("after exit") });
  assert.equal(echo.out, "after exit");
});

test("outputs handed out by end() are not overwritten by the next invocation", () => {
  const host = new WasiHost();
  const first = runFixture(host, "echo", ["/echo.wasm"], { stdin: enc.encode("first body") });
  runFixture(host, "echo", ["/echo.wasm"], { stdin: enc.encode("SECOND BODY, longer") });
  assert.equal(new TextDecoder().decode(first.stdout), "first body");
});

test("stdout over its cap: the write fails with EFBIG and nothing is truncated mid-write", () => {
  const host = new WasiHost({ stdoutCapBytes: 2500 });
  const r = runFixture(host, "misc", ["/misc.wasm", "stdout", "5000"]);
  assert.equal(r.exitCode, 3);
  assert.equal(r.stdout.length, 2000);
  assert.match(r.err, /errno=22 written=2000/);
  assert.equal(host.stdoutOverflowed, true);
  const small = runFixture(host, "misc", ["/misc.wasm", "stdout", "100"]);
  assert.equal(small.exitCode, 0);
  assert.equal(host.stdoutOverflowed, false);
});

test("stderr over its cap keeps the tail", () => {
  const host = new WasiHost({ stderrCapBytes: 100 });
  const r = runFixture(host, "misc", ["/misc.wasm", "stderr", "2500"]);
  assert.equal(r.exitCode, 0);
  assert.equal(r.stderr.length, 100);
  let tail = "";
  for (let i = 2400; i < 2500; i++) tail += String.fromCharCode(97 + (i % 26));
  assert.equal(r.err, tail);
});

test("nanosleep sleeps through poll_oneoff, and maxSleepMs bounds one sleep", () => {
  const host = new WasiHost({ maxSleepMs: 30 });
  let started = performance.now();
  const r = runFixture(host, "misc", ["/misc.wasm", "sleep", "20"]);
  assert.equal(r.exitCode, 0);
  assert.ok(performance.now() - started >= 19, "slept at least the requested time");
  // At least the requested 20 ms (19 after rounding); a loaded machine may add any amount.
  assert.match(r.out, /^slept=(19|[2-9]\d|\d{3,}) r=0\n$/);
  started = performance.now();
  runFixture(host, "misc", ["/misc.wasm", "sleep", "5000"]);
  assert.ok(performance.now() - started < 1000, "a 5 s sleep was cut to maxSleepMs");
});

test("random_get fills large buffers with fresh random bytes", () => {
  const host = new WasiHost();
  const a = runFixture(host, "misc", ["/misc.wasm", "random", "150000"]);
  const b = runFixture(host, "misc", ["/misc.wasm", "random", "150000"]);
  assert.equal(a.exitCode, 0);
  const zeros = Number(/zeros=(\d+)/.exec(a.out)?.[1]);
  // 150000 uniform bytes hold ~586 zeros; an unfilled buffer would hold 150000.
  assert.ok(zeros > 300 && zeros < 900, `zeros=${zeros}`);
  assert.notEqual(/head=(\w+)/.exec(a.out)?.[1], /head=(\w+)/.exec(b.out)?.[1]);
});

test("CLOCK_REALTIME is the wall clock", () => {
  const r = runFixture(new WasiHost(), "misc", ["/misc.wasm", "realtime"]);
  assert.ok(Math.abs(Number(r.out.trim()) - Date.now()) < 1000, r.out);
});

test("imports cover all of wasi_snapshot_preview1 and keep their identity across begin()", () => {
  const host = new WasiHost();
  const imports = host.imports;
  for (const name of ["args-env", "echo", "exit", "fsops", "misc"]) {
    for (const imp of WebAssembly.Module.imports(fixture(name))) {
      assert.equal(typeof (imports as Record<string, unknown>)[imp.name], "function", imp.name);
    }
  }
  assert.equal(Object.keys(imports).length, 46);
  runFixture(host, "echo", ["/echo.wasm"]);
  assert.equal(host.imports, imports);
  assert.equal(imports.proc_raise(2), 52);
  assert.throws(
    () => imports.proc_exit(7),
    (e) => e instanceof WasiExit && e.code === 7,
  );
});

test("a guest pointer outside memory yields EFAULT, not a host exception", () => {
  const host = new WasiHost();
  host.setMemory(new WebAssembly.Memory({ initial: 1 }));
  host.begin({ args: ["/x.wasm"], env: [], stdin: new Uint8Array(0) });
  assert.equal(host.imports.args_get(65530, 65535), 21);
  assert.equal(host.imports.fd_write(1, 70000, 1, 0), 21);
  assert.equal(host.imports.fd_write(9, 0, 0, 0), 8);
});

test("views follow memory.grow()", () => {
  const host = new WasiHost();
  const memory = new WebAssembly.Memory({ initial: 1 });
  host.setMemory(memory);
  host.begin({ args: ["/x.wasm"], env: [], stdin: new Uint8Array(0) });
  memory.grow(1);
  const at = 65536 + 100;
  const view = new DataView(memory.buffer);
  new Uint8Array(memory.buffer).set(enc.encode("grown"), at + 16);
  view.setUint32(at, at + 16, true);
  view.setUint32(at + 4, 5, true);
  assert.equal(host.imports.fd_write(1, at, 1, at + 8), 0);
  assert.equal(new DataView(memory.buffer).getUint32(at + 8, true), 5);
  assert.equal(new TextDecoder().decode(host.end(0).stdout), "grown");
});

test("options are validated", () => {
  assert.throws(
    () => new WasiHost({ overlayCapBytes: -1 }),
    (e) => isWasmletError(e, "INVALID_ARGUMENT") && e.message.includes("overlayCapBytes"),
  );
});

test("poll_oneoff answers fd subscriptions at once, with the bytes stdin still holds", () => {
  const host = new WasiHost();
  const memory = new WebAssembly.Memory({ initial: 1 });
  host.setMemory(memory);
  host.begin({ args: ["/x.wasm"], env: [], stdin: enc.encode("12345") });
  const view = new DataView(memory.buffer);
  // Subscription 0: fd_read on stdin (userdata 11); subscription 1: a relative clock of 10 s (userdata 22).
  view.setBigUint64(0, 11n, true);
  view.setUint8(8, 1);
  view.setUint32(16, 0, true);
  view.setBigUint64(48, 22n, true);
  view.setUint8(56, 0);
  view.setUint32(64, 1, true);
  view.setBigUint64(72, 10_000_000_000n, true);
  const started = performance.now();
  assert.equal(host.imports.poll_oneoff(0, 200, 2, 400), 0);
  assert.ok(performance.now() - started < 1000, "did not wait for the clock");
  assert.equal(view.getUint32(400, true), 1);
  assert.equal(view.getBigUint64(200, true), 11n);
  assert.equal(view.getUint16(208, true), 0);
  assert.equal(view.getUint8(210), 1);
  assert.equal(view.getBigUint64(216, true), 5n);
  assert.equal(host.imports.poll_oneoff(0, 200, 0, 400), 28, "no subscriptions is EINVAL");
});
