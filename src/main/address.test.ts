import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoopback, parseHostPort } from "./address.js";

test("isLoopback accepts only loopback literals and localhost", () => {
  const cases: [string, boolean][] = [
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["127.255.255.254", true],
    ["::1", true],
    ["localhost", true],
    ["127.example.com", false],
    ["127.0.0.1.nip.io", false],
    ["127.", false],
    ["127.0.0", false],
    ["127.0.0.256", false],
    ["127.0.0.1 ", false],
    ["128.0.0.1", false],
    ["0.0.0.0", false],
    ["::", false],
    ["10.0.0.1", false],
    ["localhost.example.com", false],
    ["", false],
  ];
  for (const [host, loopback] of cases) assert.equal(isLoopback(host), loopback, JSON.stringify(host));
});

test("a bracketed IPv6 loopback from --control is loopback", () => {
  assert.equal(isLoopback(parseHostPort("[::1]:8081", "--control").host), true);
});
