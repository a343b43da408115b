import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { RustBuilder } from "./rust-builder.js";
import { sourceTree } from "./test-support.js";
import { runCommand } from "./test-support.js";

const rust = new RustBuilder();
const detected = await rust.detect();

describe("Rust builder", { skip: detected.ok ? false : `${detected.missing} (${detected.install})` }, () => {
  test("a Cargo.toml tree builds offline with cargo and is named after the package", async () => {
    const files = sourceTree({
      "Cargo.toml":
        '[package]\nname = "greeter-app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n',
      "src/main.rs": 'mod util;\nfn main() { println!("{}", util::shout("cargo")); }\n',
      "src/util.rs": "pub fn shout(s: &str) -> String { s.to_uppercase() }\n",
    });
    const out = await rust.build({ files });
    assert.equal(out.fileName, "greeter-app.wasm");
    assert.match(out.log, /cargo build --offline --release/);
    assert.equal((await runCommand(out.module, ["greeter-app.wasm"])).stdout, "CARGO\n");
  });

  test("without Cargo.toml, main.rs is the entry and its modules come from the tree", async () => {
    const files = sourceTree({
      "main.rs": 'mod twice;\nfn main() { println!("{}", twice::twice(21)); }\n',
      "twice.rs": "pub fn twice(x: i32) -> i32 { x * 2 }\n",
    });
    const out = await rust.build({ files });
    assert.equal(out.fileName, "main.wasm");
    assert.equal((await runCommand(out.module, ["main.wasm"])).stdout, "42\n");
  });

  test("several .rs files and no main.rs: the error says how to name the entry", async () => {
    const files = sourceTree({ "a.rs": "fn main() {}\n", "b.rs": "fn main() {}\n" });
    await assert.rejects(
      rust.build({ files }),
      (e) => isWasmletError(e, "BUILD_FAILED") && /main\.rs/.test(e.message),
    );
  });

  test("a panic ends the built module with a trap and its message on stderr", async () => {
    const files = sourceTree({ "boom.rs": 'fn main() { panic!("boom"); }\n' });
    const run = await runCommand((await rust.build({ files })).module, ["boom.wasm"]);
    assert.equal(run.trap, "unreachable");
    assert.match(run.stderr, /boom/);
  });
});
