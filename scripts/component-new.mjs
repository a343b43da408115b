// `node scripts/component-new.mjs CORE.wasm WIT_DIR WORLD OUT.wasm`: makes a component of a core module that
// already speaks the canonical ABI (no preview1 adapter), with wasm-tools' `component embed` + `component new` as
// vendored in @bytecodealliance/jco-transpile (no wasm-tools binary needed).
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { componentEmbed, componentNew } from "@bytecodealliance/jco-transpile/wasm-tools";
import { _addPreopen } from "@bytecodealliance/preview2-shim/filesystem";

const [core, witDir, world, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node scripts/component-new.mjs CORE.wasm WIT_DIR WORLD OUT.wasm");
  process.exit(2);
}
// The vendored wasm-tools reads the WIT through preview2-shim's filesystem, which preopens nothing by itself.
_addPreopen("/wit", resolve(witDir));
const embedded = await componentEmbed({ binary: readFileSync(core), witPath: "/wit", world });
writeFileSync(out, await componentNew(embedded));
