import assert from "node:assert/strict";
import { test } from "node:test";
import type { FunctionRecord, HttpTriggerRecord } from "../core/index.js";
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

test("updates in place: a moved trigger leaves its old path, a deleted one stops matching, creation order holds", () => {
  const t = new RouteTable();
  const first = trigger("first", "exact", "/items/{id}");
  const second = trigger("second", "exact", "/items/{name}");
  // Added newest first: {param} routes still match in order of creation.
  t.setTrigger(second);
  t.setTrigger(first);
  const hit = (path: string) => {
    const r = t.lookup("GET", path);
    return "match" in r ? r.match.trigger.name : r.status;
  };
  assert.equal(hit("/items/1"), "first");
  t.setTrigger({ ...first, path: "/things/{id}" });
  assert.equal(hit("/items/1"), "second");
  assert.equal(hit("/things/1"), "first");
  t.deleteTrigger("second");
  assert.equal(hit("/items/1"), 404);
  t.deleteTrigger("first");
  assert.equal(hit("/things/1"), 404);
  assert.equal(t.triggers.size, 0);
});

test("a function replaced or deleted is what its routes see on the next lookup", () => {
  const t = new RouteTable(new Map([["f", trigger("f", "exact", "/f")]]));
  const fn = (version: number) => ({ name: "f", current: { version } }) as unknown as FunctionRecord;
  const version = () => {
    const r = t.lookup("GET", "/f");
    return "match" in r ? r.match.fn?.current.version : undefined;
  };
  assert.equal(version(), undefined);
  t.setFunction(fn(1));
  assert.equal(version(), 1);
  t.setFunction(fn(2));
  assert.equal(version(), 2);
  t.deleteFunction("f");
  assert.equal(version(), undefined);
});

test("a table updated change by change answers like one built from the final triggers", () => {
  // Deterministic pseudo-random changes over a small space of names, paths and creation times, so paths and
  // creation times collide often; a name set again sometimes keeps its creation time (an update).
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const paths = ["/", "/a", "/a/b", "/a/{x}", "/{x}/b", "/{y}/{x}", "/a/b/c", "/c"];
  const incremental = new RouteTable();
  const live = new Map<string, HttpTriggerRecord>();
  for (let i = 0; i < 2000; i++) {
    const name = `t${rand(12)}`;
    if (rand(4) === 0) {
      incremental.deleteTrigger(name);
      live.delete(name);
    } else {
      const t: HttpTriggerRecord = {
        name,
        function: name,
        match: rand(2) === 0 ? "prefix" : "exact",
        path: paths[rand(paths.length)],
        methods: [(["GET", "POST", "PUT"] as const)[rand(3)]],
        createdAt:
          live.has(name) && rand(2) === 0
            ? (live.get(name)?.createdAt as string)
            : new Date(rand(4)).toISOString(),
      };
      incremental.setTrigger(t);
      live.set(name, t);
    }
  }
  // Built from the final triggers in another order than they were set.
  const rebuilt = new RouteTable(new Map([...live].reverse()));
  for (const path of [
    ...paths.map((p) => p.replaceAll("{x}", "v").replaceAll("{y}", "w")),
    "/a/b/c/d",
    "/z",
    "/c/d",
  ])
    for (const method of ["GET", "POST", "PUT", "DELETE"])
      assert.deepEqual(incremental.lookup(method, path), rebuilt.lookup(method, path), `${method} ${path}`);
});
