#!/usr/bin/env bash
# Quick start: set up, start the Docker Engine, tool images and registry, build Bosun,
# and run the sample repository's pipeline on the embedded default (`bosun run`).
#
# The sample's pipeline is the seed scenario: lint passes, two tests fail on the first
# attempt and pass on the retry, the image is built and pushed, and the security stage
# finds one HIGH issue, so the run stops before deploy and `bosun run` exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh up --no-kafka
cargo build --quiet --bin bosun
status=0
./target/debug/bosun run examples/python-app || status=$?
if [[ $status -eq 1 ]]; then
    echo "(exit 1 is the expected outcome: the sample carries one HIGH security issue on purpose)"
    exit 0
fi
exit "$status"
