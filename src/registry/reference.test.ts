import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { formatReference, parseReference } from "./reference.js";

const D = `sha256:${"ab".repeat(32)}`;

test("parseReference splits registry, repository, tag and digest", () => {
  const cases: [string, object, string][] = [
    [
      "127.0.0.1:8081/functions/hello:v1",
      { registry: "127.0.0.1:8081", repository: "functions/hello", tag: "v1" },
      "127.0.0.1:8081/functions/hello:v1",
    ],
    [`localhost/x@${D}`, { registry: "localhost", repository: "x", digest: D }, `localhost/x@${D}`],
    [
      `ghcr.io/a/b:t@${D}`,
      { registry: "ghcr.io", repository: "a/b", tag: "t", digest: D },
      `ghcr.io/a/b:t@${D}`,
    ],
    ["[::1]:5000/fn", { registry: "[::1]:5000", repository: "fn" }, "[::1]:5000/fn"],
    ["hello", { registry: "docker.io", repository: "library/hello" }, "docker.io/library/hello"],
    ["org/app:1.0", { registry: "docker.io", repository: "org/app", tag: "1.0" }, "docker.io/org/app:1.0"],
  ];
  for (const [input, want, formatted] of cases) {
    const r = parseReference(input);
    assert.deepEqual(r, want, input);
    assert.equal(formatReference(r), formatted, input);
    assert.deepEqual(parseReference(formatReference(r)), r, input);
  }
});

test("parseReference names the problem", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["127.0.0.1:5000/Hello:v1", /repository "Hello"/],
    ["127.0.0.1:5000/../x:v1", /repository/],
    ["127.0.0.1:5000/x:-bad", /tag "-bad"/],
    ["127.0.0.1:5000/x@sha256:abc", /digest "sha256:abc"/],
    ["127.0.0.1:5000/", /repository name is missing/],
  ];
  for (const [input, msg] of cases)
    assert.throws(
      () => parseReference(input),
      (e) => isWasmletError(e, "INVALID_ARGUMENT") && msg.test(e.message),
      input,
    );
});
