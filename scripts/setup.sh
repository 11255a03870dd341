#!/usr/bin/env bash
# Installs what Bosun's build and tests need on a fresh machine; every step is skipped
# when already done, so running it twice is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)

if ! command -v rustup >/dev/null 2>&1; then
    echo "setup: rustup is required (the toolchain is pinned in rust-toolchain.toml)" >&2
    exit 1
fi
if ! rustup toolchain list | grep -q "^${toolchain}"; then
    echo "setup: installing Rust ${toolchain}"
    rustup toolchain install "${toolchain}" --profile minimal --component rustfmt,clippy
fi
if ! rustup target list --installed --toolchain "${toolchain}" | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 target (plugins are built for it)"
    rustup target add wasm32-wasip2 --toolchain "${toolchain}"
fi
for component in rustfmt clippy; do
    if ! rustup component list --installed --toolchain "${toolchain}" | grep -q "^${component}"; then
        rustup component add "${component}" --toolchain "${toolchain}"
    fi
done
echo "setup: Rust ${toolchain} with wasm32-wasip2 is ready"
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "setup: installing shellcheck (scripts/test.sh checks every shell script with it)"
    # (a fresh machine may have no package lists yet)
    apt-get install -y -q shellcheck || { apt-get update -q && apt-get install -y -q shellcheck; }
fi
