import assert from "node:assert/strict";
import { test } from "node:test";
import { advertisedHostPort, isLoopback, parseHostPort } from "./address.js";

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

test("the advertised address: the flag, else the listener's host, else a non-internal IPv4 for 0.0.0.0", () => {
  const nics = {
    lo: [{ address: "127.0.0.1", family: "IPv4", internal: true }],
    eth0: [
      { address: "fe80::1", family: "IPv6", internal: false },
      { address: "10.1.2.3", family: "IPv4", internal: false },
    ],
  };
  assert.deepEqual(advertisedHostPort({ host: "0.0.0.0", port: 8081 }, "10.9.9.9", nics), {
    host: "10.9.9.9",
    port: 8081,
  });
  assert.deepEqual(advertisedHostPort({ host: "127.0.0.2", port: 8081 }, undefined, nics), {
    host: "127.0.0.2",
    port: 8081,
  });
  assert.deepEqual(advertisedHostPort({ host: "0.0.0.0", port: 8081 }, undefined, nics), {
    host: "10.1.2.3",
    port: 8081,
  });
  assert.deepEqual(advertisedHostPort({ host: "::", port: 8081 }, "[fd00::5]", nics), {
    host: "fd00::5",
    port: 8081,
  });
  assert.deepEqual(advertisedHostPort({ host: "0.0.0.0", port: 8081 }, undefined, { lo: nics.lo }), {
    host: "0.0.0.0",
    port: 8081,
  });
});
