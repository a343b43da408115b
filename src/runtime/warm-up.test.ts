import assert from "node:assert/strict";
import { test } from "node:test";
import { CONTRACTS } from "./contracts/index.js";
import { HybridExecutor } from "./executor.js";
import { Runtime } from "./service.js";
import type { Contract, InvocationRecord, RunResult } from "./types.js";
import { warmUpFunction } from "./warm-up.js";

test("the warm-up function is valid wasm that reads the request and answers through WAGI, and is not logged", async () => {
  const executor = new HybridExecutor();
  const results: RunResult[] = [];
  const run = executor.run.bind(executor);
  executor.run = async (...args) => {
    const r = await run(...args);
    results.push(r);
    return r;
  };
  const logs: InvocationRecord[] = [];
  const runtime = new Runtime({
    executor,
    loadImage: () => Promise.reject(new Error("the warm-up must not load an image")),
    onLog: (r) => logs.push(r),
  });
  try {
    assert.ok(WebAssembly.validate(new Uint8Array(warmUpFunction().image.module)));
    await runtime.warmUp();
    assert.equal(results.length, 2, "run twice: fresh instance, then reset instance");
    for (const r of results) {
      assert.equal(r.error, undefined);
      // The request body comes back: fd_read read it; environ_get and the others returned 0 (else a trap).
      assert.equal(Buffer.from(r.stdout).toString(), "content-type: text/plain\n\nok\nwarm-up");
    }
    assert.equal(logs.length, 0);
  } finally {
    await executor.close();
  }
});

test("a request path that answers the warm-up wrongly makes warmUp reject, saying what it got", async () => {
  const executor = new HybridExecutor();
  const broken: Contract = {
    ...CONTRACTS.wagi,
    respond: () => ({ status: 502, headers: [], body: Buffer.from("x") }),
  };
  const runtime = new Runtime({
    executor,
    loadImage: () => Promise.reject(new Error("unused")),
    contracts: { ...CONTRACTS, wagi: broken },
  });
  try {
    await assert.rejects(runtime.warmUp(), /warm-up function answered 502 "x"/);
  } finally {
    await executor.close();
  }
});
