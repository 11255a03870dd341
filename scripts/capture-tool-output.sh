#!/usr/bin/env bash
# Runs the real lint and test tools (pylint, eslint, pytest + coverage, mocha) in
# Bosun's tool images and saves what they write as the fixtures the `lint` and `test`
# plugins' parser tests read: plugins/lint/tests/fixtures and plugins/test/tests/fixtures.
#
# Usage: bash scripts/capture-tool-output.sh
#
# Needs the Docker Engine and the tool images (bash scripts/services.sh). Images come
# from .bosun/services.env (BOSUN_TEST_PYTHON_IMAGE, BOSUN_TEST_NODE_IMAGE), else the
# :latest tags. Containers run the way the Docker runner runs them: read-only root,
# /workspace read-only, /out writable, tmpfs /tmp, no network, the non-root user.
#
# The argv below are the plugins' own (see plugins/lint/src/tools.rs and
# plugins/test/src/runners.rs); keep them in step. Each capture NAME leaves:
#   NAME.json / NAME.xml   the report the tool wrote under /out
#   NAME.exit              its exit code
#   NAME.stdout/.stderr    what it printed, when it printed anything
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ -f .bosun/services.env ]]; then
    set -a
    # shellcheck disable=SC1091
    . .bosun/services.env
    set +a
fi
PYTHON_IMAGE=${BOSUN_TEST_PYTHON_IMAGE:-bosun/python-tools:latest}
NODE_IMAGE=${BOSUN_TEST_NODE_IMAGE:-bosun/node-tools:latest}
LINT=plugins/lint/tests/fixtures
TEST=plugins/test/tests/fixtures

die() {
    echo "capture-tool-output: $*" >&2
    exit 1
}

docker info >/dev/null 2>&1 || die "no Docker engine answers; start it with: bash scripts/services.sh"
for image in "$PYTHON_IMAGE" "$NODE_IMAGE"; do
    docker image inspect "$image" >/dev/null 2>&1 ||
        die "image $image is missing; build it with: bash scripts/services.sh"
done

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

# capture DEST NAME EXT IMAGE WORKSPACE REPORT [ENV=VALUE...] -- ARGV...
# Runs ARGV in IMAGE with WORKSPACE at /workspace; REPORT is the file the tool writes
# under /out (empty: none), saved as DEST/NAME.EXT.
capture() {
    local dest=$1 name=$2 ext=$3 image=$4 workspace=$5 report=$6
    shift 6
    local env_args=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        env_args+=(--env "$1")
        shift
    done
    shift
    local out="$SCRATCH/$name"
    mkdir -p "$out"
    chmod 0777 "$out"
    local code=0
    docker run --rm --network none --read-only --tmpfs /tmp:rw,exec,size=64m \
        --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges \
        --volume "$ROOT/$workspace:/workspace:ro" --volume "$out:/out" \
        --workdir /workspace --env CI=true --env HOME=/tmp "${env_args[@]}" \
        "$image" "$@" >"$out/.stdout" 2>"$out/.stderr" || code=$?
    echo "$code" >"$dest/$name.exit"
    if [[ -n $report ]]; then
        if [[ -f $out/$report ]]; then
            cp "$out/$report" "$dest/$name.$ext"
        else
            rm -f "$dest/$name.$ext"
        fi
    fi
    for stream in stdout stderr; do
        if [[ -s $out/.$stream ]]; then
            cp "$out/.$stream" "$dest/$name.$stream"
        else
            rm -f "$dest/$name.$stream"
        fi
    done
    echo "  $dest/$name: exit $code"
}

PYLINT_ENV=(PYLINTHOME=/tmp/pylint)
PYTEST_ENV=(COVERAGE_FILE=/tmp/.coverage PYTHONDONTWRITEBYTECODE=1)

echo "lint fixtures ($PYTHON_IMAGE, $NODE_IMAGE)"
capture "$LINT" pylint-python-app json "$PYTHON_IMAGE" examples/python-app pylint.json \
    "${PYLINT_ENV[@]}" -- pylint --output-format=json --output /out/pylint.json src
capture "$LINT" pylint-samples json "$PYTHON_IMAGE" "$LINT/samples/python" pylint.json \
    "${PYLINT_ENV[@]}" -- pylint --output-format=json --output /out/pylint.json \
    inventory missing_module
capture "$LINT" pylint-usage-error json "$PYTHON_IMAGE" "$LINT/samples/python" pylint.json \
    "${PYLINT_ENV[@]}" -- pylint --output-format=json --output /out/pylint.json \
    --no-such-option inventory
capture "$LINT" eslint-node-app json "$NODE_IMAGE" examples/node-app eslint.json \
    -- eslint -f json -o /out/eslint.json .
capture "$LINT" eslint-samples json "$NODE_IMAGE" "$LINT/samples/node" eslint.json \
    -- eslint -f json -o /out/eslint.json .
capture "$LINT" eslint-missing-config json "$NODE_IMAGE" "$LINT/samples/node" eslint.json \
    -- eslint -f json -o /out/eslint.json --config /workspace/no-such-eslintrc.json .

echo "test fixtures"
for attempt in 1 2; do
    capture "$TEST" "pytest-python-app-attempt$attempt" xml "$PYTHON_IMAGE" examples/python-app \
        junit.xml "${PYTEST_ENV[@]}" BOSUN_ATTEMPT=$attempt -- \
        python3 -m pytest -p no:cacheprovider --junitxml /out/junit.xml \
        --cov=src --cov-report=xml:/out/coverage.xml
    cp "$SCRATCH/pytest-python-app-attempt$attempt/coverage.xml" \
        "$TEST/coverage-python-app-attempt$attempt.xml"
done
capture "$TEST" pytest-samples xml "$PYTHON_IMAGE" "$TEST/samples/python" junit.xml \
    "${PYTEST_ENV[@]}" -- python3 -m pytest -p no:cacheprovider --junitxml /out/junit.xml \
    --cov=src --cov-report=xml:/out/coverage.xml
cp "$SCRATCH/pytest-samples/coverage.xml" "$TEST/coverage-samples.xml"
capture "$TEST" pytest-usage-error xml "$PYTHON_IMAGE" "$TEST/samples/python" junit.xml \
    "${PYTEST_ENV[@]}" -- python3 -m pytest -p no:cacheprovider --junitxml /out/junit.xml \
    --no-such-option
capture "$TEST" mocha-node-app xml "$NODE_IMAGE" examples/node-app junit.xml \
    -- mocha --reporter xunit --reporter-option output=/out/junit.xml
capture "$TEST" mocha-samples xml "$NODE_IMAGE" "$TEST/samples/node" junit.xml \
    -- mocha --reporter xunit --reporter-option output=/out/junit.xml
capture "$TEST" mocha-no-tests xml "$NODE_IMAGE" "$TEST/samples/node" junit.xml \
    -- mocha --reporter xunit --reporter-option output=/out/junit.xml no-such-test.js

{
    echo "# Tool versions behind these fixtures (written by scripts/capture-tool-output.sh)"
    echo "python image: $PYTHON_IMAGE"
    docker run --rm --network none --user 1000:1000 --env PYLINTHOME=/tmp "$PYTHON_IMAGE" \
        sh -c 'pylint --version | head -n 1; python3 -m pytest --version 2>&1; python3 -m coverage --version | head -n 1'
    echo "node image: $NODE_IMAGE"
    docker run --rm --network none --user 1000:1000 "$NODE_IMAGE" \
        sh -c 'echo "node $(node --version)"; echo "eslint $(eslint --version)"; echo "mocha $(mocha --version)"'
} >"$SCRATCH/versions"
cp "$SCRATCH/versions" "$LINT/TOOLS.txt"
cp "$SCRATCH/versions" "$TEST/TOOLS.txt"
echo "done"
