import assert from "node:assert/strict";
import { test } from "node:test";
import type { AsyncInvocation, InvocationStatus, LogEntry } from "../core/index.js";
import { decodeCursor, encodeCursor, mergeInvocationLists, mergeLogPages } from "./gather-merge.js";

function entry(id: number, time: string): LogEntry {
  return { id, function: "f", time, status: 200, durationMs: 1, digest: "sha256:00", stderr: "" };
}

function inv(id: string, acceptedAt: string, status: InvocationStatus = "succeeded"): AsyncInvocation {
  return {
    id,
    function: "f",
    status,
    request: { method: "POST", url: "/", headers: {}, body: "" },
    attempts: 1,
    acceptedAt,
    ageFrom: acceptedAt,
    updatedAt: acceptedAt,
    notBefore: 0,
  };
}

const counts = (pending: number, running: number, succeeded: number, dead: number) => ({
  pending,
  running,
  succeeded,
  dead,
});

test("log pages of several nodes: oldest first, each entry names its node, the newest `limit` of all", () => {
  // Ids are per node: node b's 1 and 2 are newer than a's 5 and 6 at the times they carry.
  const a = { items: [entry(5, "2026-01-01T00:00:01Z"), entry(6, "2026-01-01T00:00:04Z")], dropped: 2 };
  const b = { items: [entry(1, "2026-01-01T00:00:02Z"), entry(2, "2026-01-01T00:00:03Z")], dropped: 1 };
  const page = mergeLogPages(
    [
      { node: "a", value: a },
      { node: "b", value: b },
    ],
    { limit: 3, following: false },
  );
  assert.deepEqual(
    page.items.map((e) => `${e.node}${e.id}`),
    ["b1", "b2", "a6"],
  );
  assert.equal(page.dropped, 3, "dropped records summed over the nodes");
  // The cursor goes on after everything each node gave, even the entry cut off as older than the newest 3.
  assert.deepEqual(decodeCursor(page.cursor), { a: 6, b: 2 });
});

test("following: every entry the nodes gave, and a node that gave nothing or did not answer keeps its place", () => {
  const page = mergeLogPages(
    [
      { node: "a", value: { items: [entry(7, "2026-01-01T00:00:09Z")], dropped: 0 } },
      {
        node: "b",
        value: { items: [entry(3, "2026-01-01T00:00:05Z"), entry(4, "2026-01-01T00:00:06Z")], dropped: 0 },
      },
      { node: "c", value: { items: [], dropped: 0 } },
    ],
    { limit: 1, following: true, cursor: { a: 6, b: 2, d: 40 } },
  );
  assert.deepEqual(
    page.items.map((e) => `${e.node}${e.id}`),
    ["b3", "b4", "a7"],
  );
  assert.deepEqual(decodeCursor(page.cursor), { a: 7, b: 4, c: 0, d: 40 });
});

test("a cursor that this API did not give is refused, naming cursor", () => {
  for (const bad of ["%%%", encodeCursor({ a: -1 }), Buffer.from("[1]").toString("base64url"), "bm90IGpzb24"])
    assert.throws(() => decodeCursor(bad), /cursor: not a cursor/);
});

test("invocation lists of several nodes: newest accepted first, cut to the limit, counts summed", () => {
  const merged = mergeInvocationLists(
    [
      {
        node: "a",
        value: {
          items: [inv("a2", "2026-01-01T00:00:05Z"), inv("a1", "2026-01-01T00:00:01Z")],
          counts: counts(0, 0, 2, 0),
        },
      },
      {
        node: "b",
        value: {
          items: [inv("b2", "2026-01-01T00:00:04Z", "dead"), inv("b1", "2026-01-01T00:00:02Z")],
          counts: counts(1, 0, 1, 1),
        },
      },
    ],
    3,
  );
  assert.deepEqual(
    merged.items.map((i) => [i.id, i.node]),
    [
      ["a2", "a"],
      ["b2", "b"],
      ["b1", "b"],
    ],
  );
  assert.deepEqual(merged.counts, counts(1, 0, 3, 1));
});
