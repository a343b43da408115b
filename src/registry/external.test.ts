import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRegistryLocation } from "./external.js";

test("parseRegistryLocation: scheme, host, port and repository prefix", () => {
  const cases: [string, { host: string; prefix: string; plainHttp: boolean; base: string; url: string }][] = [
    [
      "http://127.0.0.1:5000/myorg",
      {
        host: "127.0.0.1:5000",
        prefix: "myorg",
        plainHttp: true,
        base: "127.0.0.1:5000/myorg",
        url: "http://127.0.0.1:5000/myorg",
      },
    ],
    [
      "https://reg.example.com",
      {
        host: "reg.example.com",
        prefix: "",
        plainHttp: false,
        base: "reg.example.com",
        url: "https://reg.example.com",
      },
    ],
    // No scheme: loopback speaks HTTP, anything else HTTPS (as image references do).
    [
      "127.0.0.1:8081",
      {
        host: "127.0.0.1:8081",
        prefix: "",
        plainHttp: true,
        base: "127.0.0.1:8081",
        url: "http://127.0.0.1:8081",
      },
    ],
    [
      "ghcr.io/acme/wasm/",
      {
        host: "ghcr.io",
        prefix: "acme/wasm",
        plainHttp: false,
        base: "ghcr.io/acme/wasm",
        url: "https://ghcr.io/acme/wasm",
      },
    ],
    [
      "http://Reg.Internal:80",
      {
        host: "reg.internal:80",
        prefix: "",
        plainHttp: true,
        base: "reg.internal:80",
        url: "http://reg.internal:80",
      },
    ],
  ];
  for (const [value, want] of cases) assert.deepEqual(parseRegistryLocation(value), want, value);
});

test("parseRegistryLocation refuses what is not a registry, naming the option and the problem", () => {
  const cases: [string, RegExp][] = [
    [
      "https://u:p@reg.example.com/x",
      /--registry: ".*" holds credentials: give them with --registry-username/,
    ],
    ["http://reg:5000/v2/", /names the \/v2 API/],
    ["http://reg:99999", /port 99999, out of range/],
    ["http://reg/MyOrg", /repository prefix "MyOrg", which is not valid/],
    ["ftp://reg", /does not start with a registry host/],
    ["", /does not start with a registry host/],
    ["http://reg/x?y=1", /is not \[http:\/\/\|https:\/\/\]host/],
  ];
  for (const [value, want] of cases)
    assert.throws(
      () => parseRegistryLocation(value),
      (e: Error) => want.test(e.message),
      value,
    );
});
