#!/usr/bin/env node
// `serve` runs with the V8 flags it needs (src/main/node-flags.ts): set before anything else is loaded, since
// the process may be replaced in place by one that has them.
if (process.argv[2] === "serve")
  (await import("../dist/src/main/node-flags.js")).ensureServeNodeFlags(console.error);
await import("../dist/src/cli/main.js");
