#!/usr/bin/env bash
# Quick start: set up, build Bosun, and run a built-in stage plugin on the Python sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --quiet --release -- plugin list
cargo run --quiet --release -- plugin run todo-scan --workspace examples/python-app
