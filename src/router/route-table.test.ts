import assert from "node:assert/strict";
import { test } from "node:test";
import type { HttpTriggerRecord } from "../core/index.js";
import { RouteTable } from "./route-table.js";

let clock = 0;
function trigger(
  name: string,
  match: "exact" | "prefix",
  path: string,
  methods = ["GET"],
): HttpTriggerRecord {
  return {
    name,
    function: name,
    match,
    path,
    methods: methods as HttpTriggerRecord["methods"],
    createdAt: new Date(++clock).toISOString(),
  };
}

const table = new RouteTable(
  new Map(
    [
      trigger("root", "prefix", "/"),
      trigger("api", "prefix", "/api", ["GET", "POST"]),
      trigger("api-v2", "prefix", "/api/v2"),
      trigger("user", "exact", "/users/{id}"),
      trigger("me", "exact", "/users/me"),
      trigger("post-only", "exact", "/submit", ["POST"]),
    ].map((t) => [t.name, t]),
  ),
  new Map(),
);

test("route lookup precedence and path split", async (t) => {
  const cases: [string, string, string | number, string?, string?, Record<string, string>?][] = [
    // method, path, expected trigger or status, scriptName, pathInfo, params
    ["GET", "/users/me", "me", "/users/me", ""],
    ["GET", "/users/42", "user", "/users/42", "", { id: "42" }],
    ["GET", "/users/a%20b", "user", "/users/a%20b", "", { id: "a b" }],
    ["GET", "/api/v2/x", "api-v2", "/api/v2", "/x"],
    ["POST", "/api/v2/x", "api", "/api", "/v2/x"],
    ["GET", "/api", "api", "/api", ""],
    ["POST", "/api/", "api", "/api", "/"],
    ["GET", "/apiary", "root", "", "/apiary"],
    ["GET", "/", "root", "", "/"],
    ["POST", "/submit", "post-only", "/submit", ""],
    ["GET", "/submit", "root", "", "/submit"],
    ["DELETE", "/users/42", 405],
  ];
  for (const [method, path, want, scriptName, pathInfo, params] of cases) {
    await t.test(`${method} ${path}`, () => {
      const r = table.lookup(method, path);
      if (typeof want === "number") {
        assert.ok("status" in r && r.status === want, JSON.stringify(r));
        return;
      }
      assert.ok("match" in r, `expected a match, got ${JSON.stringify(r)}`);
      assert.equal(r.match.trigger.name, want);
      assert.equal(r.match.scriptName, scriptName);
      assert.equal(r.match.pathInfo, pathInfo);
      if (params) assert.deepEqual(r.match.params, params);
    });
  }
});

test("no route is 404, wrong method on a known path is 405 with Allow", () => {
  const small = new RouteTable(new Map([["a", trigger("a", "exact", "/a", ["POST", "PUT"])]]), new Map());
  assert.deepEqual(small.lookup("GET", "/b"), { status: 404 });
  const r = small.lookup("GET", "/a");
  assert.ok("status" in r && r.status === 405);
  assert.deepEqual("allow" in r ? r.allow.sort() : [], ["POST", "PUT"]);
});
