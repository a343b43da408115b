#!/usr/bin/env bash
# Builds the component examples and fixtures with the Bytecode Alliance's own tools, and commits nothing by
# itself: the .wasm outputs are committed, so `npm ci` alone sets a machine up; run this after changing a source.
#  - examples/http-hello/hello.wasm: a wasi:http/proxy component from JavaScript (componentize-js 0.23.0)
#  - examples/cli-hello/hello.wasm and test/fixtures/components/*.cmd.wasm: wasi:cli/command components made by
#    `jco new --wasi-command` from the preview1 modules that scripts/build-examples.sh builds.
#  - test/fixtures/components/http-hello.wasm: a small wasi:http/proxy component from C (clang, no libc) made a
#    component by scripts/component-new.mjs (wasm-tools embed + new, as vendored in jco-transpile).
# componentize-js is installed on its own under .cache/ (with the preview2-shim 0.25 it brings at the top level of
# its node_modules: 0.26 there breaks its builds), never into the project's node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.cache/component-tools
if [ ! -x "$TOOLS/node_modules/.bin/componentize-js" ]; then
  mkdir -p "$TOOLS"
  [ -f "$TOOLS/package.json" ] || echo '{"private":true}' > "$TOOLS/package.json"
  npm install --prefix "$TOOLS" --save-exact --no-audit --no-fund @bytecodealliance/componentize-js@0.23.0
fi
BIN=$TOOLS/node_modules/.bin
WIT_BUILTIN=$TOOLS/node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12

cmd() {
  "$BIN/jco" new "$1" --wasi-command -o "$2"
  echo "built $2 ($(stat -c %s "$2") bytes)"
}
cmd examples/hello/hello.wasm examples/cli-hello/hello.wasm
for f in spin fail readfile sleep raw bomb; do cmd "test/fixtures/$f.wasm" "test/fixtures/components/$f.cmd.wasm"; done

WIT=$(mktemp -d)
trap 'rm -rf "$WIT"' EXIT
cp examples/http-hello/wit/world.wit "$WIT/"
mkdir -p "$WIT/deps"
cp -r "$WIT_BUILTIN"/wasi-* "$WIT/deps/"
"$BIN/componentize-js" --wit "$WIT" --world-name http-hello -o examples/http-hello/hello.wasm examples/http-hello/hello.js
echo "built examples/http-hello/hello.wasm ($(stat -c %s examples/http-hello/hello.wasm) bytes)"

SMALL=test/fixtures/components/http-hello
clang --target=wasm32 -mbulk-memory -nostdlib -O2 -Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=16384 -o "$WIT/core.wasm" "$SMALL.c"
node scripts/component-new.mjs "$WIT/core.wasm" "$WIT" http-hello "$SMALL.wasm"
echo "built $SMALL.wasm ($(stat -c %s "$SMALL.wasm") bytes)"
