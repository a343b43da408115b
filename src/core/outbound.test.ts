import assert from "node:assert/strict";
import { test } from "node:test";
import { isWasmletError } from "./errors.js";
import { isGuardedAddress, matchOutbound, parseOutboundRule } from "./outbound.js";

/** [allow-list, scheme, host, port, allowed]. */
const CASES: [string[], string, string, number, boolean][] = [
  [["https://api.example.com"], "https", "api.example.com", 443, true],
  [["https://api.example.com"], "http", "api.example.com", 80, false],
  [["https://api.example.com"], "https", "api.example.com", 8443, false],
  [["https://api.example.com"], "https", "evil.com", 443, false],
  [["https://*.example.com"], "https", "a.b.example.com", 443, true],
  [["https://*.example.com"], "https", "example.com", 443, false],
  [["https://*.example.com"], "https", "notexample.com", 443, false],
  [["*://api.example.com:*"], "http", "api.example.com", 8080, true],
  [["http://127.0.0.1:8000..8010"], "http", "127.0.0.1", 8005, true],
  [["http://127.0.0.1:8000..8010"], "http", "127.0.0.1", 8011, false],
  [["http://[::1]:8080"], "http", "::1", 8080, true],
  [["HTTPS://API.Example.com".toLowerCase()], "https", "api.example.com", 443, true],
  [["*://*:*"], "https", "anything.example", 1, true],
  [[], "https", "api.example.com", 443, false],
];

for (const [rules, scheme, host, port, allowed] of CASES)
  test(`${JSON.stringify(rules)} ${allowed ? "allows" : "refuses"} ${scheme}://${host}:${port}`, () => {
    const parsed = rules.map((r) => parseOutboundRule(r));
    assert.equal(matchOutbound(parsed, scheme, host, port) !== undefined, allowed);
  });

test("only entries without wildcards are exact", () => {
  assert.equal(parseOutboundRule("http://169.254.169.254").exact, true);
  assert.equal(parseOutboundRule("http://*.internal").exact, false);
  assert.equal(parseOutboundRule("http://metadata:*").exact, false);
});

for (const bad of [
  "api.example.com",
  "ftp://x",
  "https://a*.example.com",
  "https://x/path",
  "https://x:0",
  "https://x:9..1",
])
  test(`"${bad}" is refused with the expected form`, () => {
    assert.throws(
      () => parseOutboundRule(bad),
      (e: unknown) =>
        isWasmletError(e, "INVALID_ARGUMENT") &&
        /expected scheme:\/\/host\[:port\]/.test((e as Error).message),
    );
  });

const GUARDED: [string, boolean][] = [
  ["127.0.0.1", true],
  ["127.8.9.10", true],
  ["0.0.0.0", true],
  ["169.254.169.254", true],
  ["169.254.1.1", true],
  ["100.100.100.200", true],
  ["::1", true],
  ["::", true],
  ["fe80::1", true],
  ["FE80::abcd", true],
  ["fd00:ec2::254", true],
  ["::ffff:127.0.0.1", true],
  ["::ffff:169.254.169.254", true],
  ["10.0.0.1", false],
  ["192.168.1.1", false],
  ["93.184.216.34", false],
  ["169.255.0.1", false],
  ["2001:db8::1", false],
  ["fec0::1", false],
];

for (const [address, guarded] of GUARDED)
  test(`${address} ${guarded ? "needs" : "does not need"} an exact allow-list entry`, () => {
    assert.equal(isGuardedAddress(address), guarded);
  });
