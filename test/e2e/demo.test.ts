// `npm start` (serve --demo) deploys every bundled example, the components included, and they answer.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startServer, waitFor } from "./harness.js";

test("serve --demo deploys the examples, the wasi:http and wasi:cli components included", async () => {
  const server = await startServer(undefined, ["--demo"]);
  try {
    await waitFor(async () => (/examples deployed/.test(server.output()) ? true : undefined), {
      ms: 60_000,
      what: () => `the examples were not deployed:\n${server.output()}`,
    });
    const answers: [string, RequestInit, number, RegExp][] = [
      ["/hello", {}, 200, /^hello\n20000\n$/],
      ["/echo/x?y=1", { method: "POST", body: "abc" }, 200, /hi from wasmlet/],
      [
        "/http-hello/x?y=1",
        { headers: { "x-hello": "demo" } },
        200,
        /^hello from a component: GET \/http-hello\/x\?y=1\n$/,
      ],
      ["/cli-hello", {}, 200, /^hello\nfrom\na\ncomponent\n$/],
    ];
    for (const [path, init, status, body] of answers) {
      const r = await fetch(`${server.routerUrl}${path}`, init);
      const text = await r.text();
      assert.equal(r.status, status, `${path}: ${text}`);
      assert.match(text, body, path);
    }
    assert.match(server.output(), /curl -H 'x-hello: you' 'http:\/\/127\.0\.0\.1:\d+\/http-hello\/x\?y=1'/);
  } finally {
    await server.stop();
  }
});
