#!/usr/bin/env bash
# Bosun's whole test suite: set-up, formatting, lints (plugins included), every test.
# The plugins and fixture components are compiled for wasm32-wasip2 by the build
# scripts of `bosun-builtins` and `bosun-test-plugins` as part of this run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy (workspace, all targets, plugins included)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
