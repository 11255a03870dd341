#!/usr/bin/env bash
# Captures REAL bandit output for the `security` plugin's unit tests, by running bandit in
# the locally built Python tool image exactly the way the plugin does (read-only
# /workspace, writable /out, no network, uid 1000):
#
#   bandit -r <target> -f json -o /out/bandit.json -q
#
# Writes into plugins/security/tests/fixtures/bandit/:
#   bandit-python-app.json      examples/python-app (the seed scenario: one HIGH issue)
#   bandit-mixed.json           a sample with LOW, MEDIUM and HIGH issues and a file
#                               bandit cannot parse (its `errors` list)
#   bandit-no-python.json       a folder with no Python files
#   bandit-crash.{exit,stderr}  bandit told to read a config file that does not exist
#
# Usage: scripts/capture-security-output.sh   (needs `bash scripts/services.sh` first)
# Re-run it after changing examples/python-app; the unit tests assert on these files.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIXTURES="$ROOT/plugins/security/tests/fixtures/bandit"
ENV_FILE="$ROOT/.bosun/services.env"

if [[ -z "${BOSUN_TEST_PYTHON_IMAGE:-}" && -f "$ENV_FILE" ]]; then
    set -a
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    set +a
fi
IMAGE=${BOSUN_TEST_PYTHON_IMAGE:-}
if [[ -z "$IMAGE" ]] || ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "capture: the Python tool image is missing (BOSUN_TEST_PYTHON_IMAGE=${IMAGE:-unset});" \
        "start the services with: bash scripts/services.sh" >&2
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"

# run_bandit WORKSPACE TARGET NAME [ARGS...]: bandit in the tool image, as the plugin
# runs it (ARGS are extra bandit options); the report goes to $FIXTURES/NAME.json, and
# $LAST_OUT holds the exit code and stderr.
run_bandit() {
    local workspace=$1 target=$2 name=$3 out rc=0
    shift 3
    out=$(mktemp -d "$WORK/out.XXXXXX")
    chmod 777 "$out"
    docker run --rm --network none --user 1000:1000 --read-only --tmpfs /tmp \
        -e HOME=/tmp -e CI=true \
        -v "$workspace:/workspace:ro" -v "$out:/out:rw" -w /workspace \
        "$IMAGE" bandit -r "$target" -f json -o /out/bandit.json -q "$@" \
        2>"$out/stderr" || rc=$?
    echo "$rc" >"$out/exit"
    if [[ -s "$out/bandit.json" ]]; then
        cp "$out/bandit.json" "$FIXTURES/$name.json"
    fi
    echo "capture: $name: bandit exited $rc"
    LAST_OUT=$out
}

# 1. The sample repository, as the seed pipeline scans it.
run_bandit "$ROOT/examples/python-app" . bandit-python-app

# 2. A sample with one issue per severity, plus a file bandit cannot parse.
mixed="$WORK/mixed"
mkdir -p "$mixed/app"
cat >"$mixed/app/tasks.py" <<'PY'
"""Background tasks with a range of security smells."""
import hashlib
import pickle
import subprocess
import tempfile

import yaml


def run_report(name):
    """Run a report script chosen by the caller."""
    return subprocess.call("report.sh " + name, shell=True)


def load_settings(text):
    """Parse settings."""
    return yaml.load(text)


def restore(blob):
    """Restore a pickled job."""
    return pickle.loads(blob)


def fingerprint(data):
    """A short fingerprint."""
    return hashlib.md5(data).hexdigest()


def scratch_file():
    """A scratch path."""
    return tempfile.mktemp()


PASSWORD = "hunter2"
PY
cat >"$mixed/app/broken.py" <<'PY'
def unfinished(:
    pass
PY
chmod -R a+rX "$mixed"
run_bandit "$mixed" . bandit-mixed

# 3. Nothing to scan.
empty="$WORK/empty"
mkdir -p "$empty/docs"
echo "no python here" >"$empty/docs/README.txt"
chmod -R a+rX "$empty"
run_bandit "$empty" . bandit-no-python

# 4. A crash: bandit stops before scanning (exit 2, no report) when its config is missing.
run_bandit "$empty" . bandit-crash-unused -c /workspace/missing-bandit.yaml
cp "$LAST_OUT/exit" "$FIXTURES/bandit-crash.exit"
cp "$LAST_OUT/stderr" "$FIXTURES/bandit-crash.stderr"
rm -f "$FIXTURES/bandit-crash-unused.json"

echo "capture: wrote fixtures to ${FIXTURES#"$ROOT"/}"
