#!/usr/bin/env bash
# Bosun's whole test suite: set-up, the real services, shellcheck, formatting, lints
# (plugins included), every test. The plugins and fixture components are compiled for
# wasm32-wasip2 by the build scripts of `bosun-builtins` and `bosun-test-plugins`.
#
# The services (Docker Engine, locally built tool images, the image registry and the
# Tansu Kafka-protocol broker) start in the background while fmt and clippy run; their
# addresses reach the tests through .bosun/services.env. Under CI=true a test whose
# service is missing fails and says how to start it.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fresh CI machine gains nothing from incremental artifacts; they only take disk.
if [[ "${CI:-}" == "true" ]]; then
    export CARGO_INCREMENTAL=0
fi

bash scripts/setup.sh
mkdir -p .bosun
echo "== disk before the build"
df -h . | tail -1
echo "== services (Docker Engine, tool images, registry, Tansu): background, log in .bosun/services-up.log"
bash scripts/services.sh >.bosun/services-up.log 2>&1 &
services_pid=$!

echo "== shellcheck (every shell script in scripts/ and .ci/, sourced files included)"
mapfile -t shell_scripts < <(grep -rlE '^(#!/.*\b(ba)?sh$|# shellcheck shell=)' .ci scripts | sort)
shellcheck -x "${shell_scripts[@]}"
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy (workspace, all targets, plugins included)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== services"
if ! wait "$services_pid"; then
    cat .bosun/services-up.log
    echo "scripts/services.sh failed (see above)" >&2
    exit 1
fi
cat .bosun/services-up.log
set -a
# shellcheck disable=SC1091
. .bosun/services.env
set +a

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
echo "== disk used by the build"
du -sh target 2>/dev/null || true
df -h . | tail -1
