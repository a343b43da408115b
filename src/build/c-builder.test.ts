import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isWasmletError } from "../core/index.js";
import { CBuilder } from "./c-builder.js";
import { sourceTree } from "./test-support.js";
import { runCommand } from "./test-support.js";

const c = new CBuilder();
const detected = await c.detect();

describe("C builder", { skip: detected.ok ? false : `${detected.missing} (${detected.install})` }, () => {
  test("compiles every .c file of a tree, with the tree root on the include path", async () => {
    const files = sourceTree({
      "main.c": '#include "lib/greet.h"\nint main(void) { greet("tree"); return 0; }\n',
      "lib/greet.h": "void greet(const char *who);\n",
      "lib/greet.c":
        '#include <stdio.h>\n#include "lib/greet.h"\nvoid greet(const char *who) { printf("hi %s\\n", who); }\n',
    });
    const out = await c.build({ files });
    assert.equal(out.fileName, "main.wasm");
    assert.equal((await runCommand(out.module, ["main.wasm"])).stdout, "hi tree\n");
  });

  test("gives programs a 1 MB stack (wasi-libc's default is 64 KB)", async () => {
    const files = sourceTree({
      "stack.c": `#include <stdio.h>
#include <string.h>
int main(void) {
  volatile char buf[512 * 1024];
  memset((char *)buf, 7, sizeof buf);
  printf("%d\\n", buf[sizeof buf - 1] + buf[0]);
  return 0;
}
`,
    });
    const run = await runCommand((await c.build({ files })).module, ["stack.wasm"]);
    assert.equal(run.stdout, "14\n");
  });

  test("a tree without .c files fails, saying so", async () => {
    await assert.rejects(c.build({ files: sourceTree({ "README.md": "# hi" }) }), (e) => {
      return isWasmletError(e, "BUILD_FAILED") && /no \.c file/.test(e.message);
    });
  });

  test("a non-zero exit code of the program survives the build", async () => {
    const files = sourceTree({ "fail.c": "int main(void) { return 3; }\n" });
    assert.equal((await runCommand((await c.build({ files })).module, ["fail.wasm"])).exitCode, 3);
  });
});
