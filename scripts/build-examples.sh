#!/usr/bin/env bash
# Rebuilds the example functions and the test fixtures from their sources. The .wasm outputs are committed,
# so `npm ci` alone sets a machine up; run this after changing a source.
# Needs: clang lld wasi-libc libclang-rt-14-dev-wasm32 (Debian) for C; npm's assemblyscript for AssemblyScript.
set -euo pipefail
cd "$(dirname "$0")/.."
# A source's own extra flags, if any, are on a first line "// cflags: ...".
cc() {
  local extra
  extra=$(sed -n '1s|^// cflags: ||p' "$1")
  # shellcheck disable=SC2086
  clang --target=wasm32-wasi -O2 -s $extra -o "$2" "$1"
  echo "built $2 ($(stat -c %s "$2") bytes)"
}
cc examples/hello/hello.c examples/hello/hello.wasm
cc examples/wagi-echo/echo.c examples/wagi-echo/echo.wasm
npx asc examples/as-hello/hello.ts --config examples/as-hello/asconfig.json -o examples/as-hello/hello.wasm
echo "built examples/as-hello/hello.wasm ($(stat -c %s examples/as-hello/hello.wasm) bytes)"
for src in test/fixtures/*.c; do cc "$src" "${src%.c}.wasm"; done
npx asc test/fixtures/as-state.ts --config examples/as-hello/asconfig.json -o test/fixtures/as-state.wasm
