#!/usr/bin/env bash
# Installs, on Debian, every optional tool the test suite and the benchmark use (`npm run setup`, and CI).
# Without them `npm test` still passes, skipping the tests that need them and saying which package is missing.
#   docker-registry, skopeo, umoci: real OCI peers (interop tests); apache2-utils: htpasswd (registry auth tests)
#   clang, lld, wasi-libc, libclang-rt-14-dev-wasm32: C -> wasm (fixtures, the C builder)
#   rustc, cargo, libstd-rust-dev-wasm32: the Rust builder
#   python3, make, g++: node-gyp (better-sqlite3, the malloc tuning addon)
#   nats-server: the broker the message-queue trigger tests start; wrk: the benchmark's load generator
#   etcd-server: the etcd the etcd store's tests start as a 3-member cluster; etcd-client (etcdctl) and openssl:
#   users, roles and certificates of its TLS and authentication tests
#   chromium: the browser the dashboard tests drive (playwright-core)
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  docker-registry skopeo umoci apache2-utils \
  clang lld wasi-libc libclang-rt-14-dev-wasm32 \
  rustc cargo libstd-rust-dev-wasm32 \
  python3 make g++ \
  nats-server etcd-server etcd-client openssl wrk >/dev/null
# With its recommended packages (fonts among them), as on the machines the dashboard tests were written on.
$SUDO apt-get install -y -qq chromium >/dev/null
echo "setup: optional tools installed"
