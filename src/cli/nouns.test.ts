import assert from "node:assert/strict";
import { test } from "node:test";
import { NOUN_HELP, NOUN_LOADERS, nounOf } from "./nouns.js";

test("the noun of a command line is found past the global options; help and typos name none", () => {
  const argv = (...a: string[]) => ["node", "wasmlet", ...a];
  assert.equal(nounOf(argv("fn", "list")), "fn");
  assert.equal(nounOf(argv("--server", "http://x:1", "--token", "t", "route", "get")), "route");
  assert.equal(nounOf(argv("--server=http://x:1", "timer", "list")), "timer");
  assert.equal(nounOf(argv("--help")), undefined);
  assert.equal(nounOf(argv()), undefined);
  assert.equal(nounOf(argv("bogus", "list")), undefined);
  assert.equal(nounOf(argv("constructor")), undefined, "only the nouns themselves");
});

test("every noun with help has a loader that registers a command of its name", async () => {
  const { Command } = await import("commander");
  for (const noun of Object.keys(NOUN_HELP) as (keyof typeof NOUN_HELP)[]) {
    const program = new Command("wasmlet");
    (await NOUN_LOADERS[noun]())(program);
    const cmd = program.commands.find((c) => c.name() === noun);
    assert.ok(cmd, noun);
    assert.equal(cmd.description(), NOUN_HELP[noun]);
  }
});
