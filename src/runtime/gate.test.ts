import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { FunctionGate } from "./gate.js";

const later = (ms: number) => performance.now() + ms;

test("turns up to the limit, then FIFO waiters, then OVERLOADED; a left turn goes to the longest waiter", async () => {
  const gate = new FunctionGate();
  assert.ok(gate.tryEnter(2));
  assert.ok(gate.tryEnter(2));
  assert.equal(gate.tryEnter(2), false);
  const order: number[] = [];
  const a = gate.wait("f", 2, later(5000)).then(() => order.push(1));
  const b = gate.wait("f", 2, later(5000)).then(() => order.push(2));
  await assert.rejects(gate.wait("f", 2, later(5000)), (e) => isWasmletError(e, "OVERLOADED"));
  gate.leave();
  gate.leave();
  await Promise.all([a, b]);
  assert.deepEqual(order, [1, 2]);
  assert.deepEqual(gate.load, { active: 2, waiting: 0 });
  // A newcomer does not pass a waiter: tryEnter refuses while anyone waits.
  const c = gate.wait("f", 2, later(5000));
  gate.leave();
  assert.equal(gate.tryEnter(2), false);
  await c;
  gate.leave();
  gate.leave();
  assert.deepEqual(gate.load, { active: 0, waiting: 0 });
});

test("a waiter gives up at its deadline (FUNCTION_TIMEOUT) and when its caller goes (CANCELLED), holding nothing", async () => {
  const gate = new FunctionGate();
  assert.ok(gate.tryEnter(1));
  const t0 = performance.now();
  await assert.rejects(gate.wait("f", 5, later(80)), (e) => isWasmletError(e, "FUNCTION_TIMEOUT"));
  const took = performance.now() - t0;
  assert.ok(took >= 70 && took < 500, `gave up after ${took} ms`);
  let cancel: (() => void) | undefined;
  const token = {
    cancelled: false,
    onCancel(cb: () => void) {
      cancel = cb;
      return () => {
        cancel = undefined;
      };
    },
  };
  const waiting = gate.wait("f", 5, later(5000), token);
  cancel?.();
  await assert.rejects(waiting, (e) => isWasmletError(e, "CANCELLED"));
  assert.deepEqual(gate.load, { active: 1, waiting: 0 });
  gate.leave();
  assert.deepEqual(gate.load, { active: 0, waiting: 0 });
});
