#!/usr/bin/env bash
# Bosun's fuzz suite (libFuzzer through cargo-fuzz), run for a bounded time.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
#
# The targets live in fuzz/ (its own cargo workspace, so `cargo test --workspace` never
# builds them) and fuzz the parsers of untrusted input: GitHub webhook deliveries and
# their signatures, the pipeline config, the server settings, and the tool reports the
# stage plugins and command steps read (JUnit XML, Cobertura XML and LCOV coverage,
# SARIF 2.1.0 logs, pylint, eslint, bandit and Trivy JSON).
# With no TARGET, every target in fuzz/fuzz_targets/ runs, one after the other.
#
# What it does:
#   1. installs cargo-fuzz when `cargo fuzz` is missing (`cargo install --locked`);
#   2. copies the project's own fixtures into fuzz/seeds/<target>/ (git-ignored, rebuilt
#      on every run: copies of the fixtures are never committed);
#   3. runs `cargo fuzz run <target> fuzz/corpus/<target> fuzz/seeds/<target>` for
#      SECONDS_PER_TARGET seconds each; new inputs are kept in fuzz/corpus/<target>/ (also
#      git-ignored) and grow across runs, crashes land in fuzz/artifacts/<target>/;
#   4. prints one line per target: executions, corpus size, and crash or not (with the
#      artifact to reproduce it: `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>`).
# It exits non-zero when any target crashed (or failed to build).
#
# cargo-fuzz needs nightly-only rustc flags; RUSTC_BOOTSTRAP=1 lets the pinned toolchain of
# rust-toolchain.toml accept them, so no nightly toolchain is needed. Builds go to
# fuzz/target (never the workspace's target/). Logs: fuzz/target/fuzz-logs/<target>.log.
#
# This is NOT part of scripts/test.sh (nor of CI): fuzzing is open-ended and
# CPU-bound, so run it by hand, e.g. `bash scripts/fuzz.sh 300 webhook_event`.
# Extra libFuzzer flags can be given in FUZZ_ARGS (e.g. FUZZ_ARGS="-max_len=65536"); an
# input that takes longer than FUZZ_TIMEOUT seconds (default 30) is reported as a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds == 0)); then
    echo "usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))

all_targets=()
for file in fuzz/fuzz_targets/*.rs; do
    all_targets+=("$(basename "$file" .rs)")
done
if (($# > 0)); then
    targets=("$@")
    for target in "${targets[@]}"; do
        if [[ ! -f "fuzz/fuzz_targets/$target.rs" ]]; then
            echo "unknown fuzz target: $target (known: ${all_targets[*]})" >&2
            exit 2
        fi
    done
else
    targets=("${all_targets[@]}")
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/fuzz/target"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# ---- seeds -------------------------------------------------------------------------
shared="$root/../shared/fixtures"
seeds="$root/fuzz/seeds"
# Fixtures larger than this are skipped: libFuzzer sizes its inputs after the largest
# seed, and a 100 KB seed slows every mutation down.
max_seed_bytes=65536

# Every existing file matching the patterns (globs; a missing folder matches nothing).
fixtures() {
    local pattern file
    shopt -s nullglob globstar
    for pattern in "$@"; do
        for file in $pattern; do
            if [[ -f "$file" ]] && (($(wc -c <"$file") <= max_seed_bytes)); then
                printf '%s\n' "$file"
            fi
        done
    done
    shopt -u nullglob globstar
}

# seed TARGET FILE...: copy the files into fuzz/seeds/TARGET/.
seed() {
    local target=$1 file name
    shift
    mkdir -p "$seeds/$target"
    for file in "$@"; do
        name=${file#"$root"/}
        name=${name#../}
        cp "$file" "$seeds/$target/${name//\//_}"
    done
}

github_payloads() {
    fixtures "$root/orchestrator/tests/fixtures/github/*.json" \
        "$shared/github/*.json" "$shared/github/events/*.json"
}

# webhook_event: the first byte picks the event (0 push, 1 pull_request, 2 ping, 3 the
# name up to the first newline), the rest is the body.
seed_webhook_event() {
    local dir="$seeds/webhook_event" file name out
    mkdir -p "$dir"
    while read -r file; do
        name=$(basename "$file" .json)
        out="$dir/$(basename "$(dirname "$file")")_$name"
        case "$name" in
        push*) { printf '\x00'; cat "$file"; } >"$out" ;;
        pull_request*) { printf '\x01'; cat "$file"; } >"$out" ;;
        ping*) { printf '\x02'; cat "$file"; } >"$out" ;;
        *) { printf '\x03%s\n' "${name%%__*}"; cat "$file"; } >"$out" ;;
        esac
    done < <(github_payloads)
}

# webhook_signature: [secret length][secret][header length][header][body].
seed_webhook_signature() {
    local dir="$seeds/webhook_signature" secret="bosun webhook secret" file header
    mkdir -p "$dir"
    while read -r file; do
        if command -v openssl >/dev/null 2>&1; then
            header="sha256=$(openssl dgst -sha256 -hmac "$secret" <"$file" | sed 's/^.*= *//')"
        else
            header="sha256=$(printf '%064d' 0)"
        fi
        {
            printf "\\x$(printf '%02x' "${#secret}")%s" "$secret"
            printf "\\x$(printf '%02x' "${#header}")%s" "$header"
            cat "$file"
        } >"$dir/$(basename "$(dirname "$file")")_$(basename "$file" .json)"
    done < <(github_payloads)
}

echo "== seeding fuzz/seeds/ from the project's fixtures"
rm -rf "$seeds"
mkdir -p "$seeds"
seed_webhook_event
seed_webhook_signature
mapfile -t files < <(fixtures "$root/examples/*/.bosun.yml" "$root/tests/fixtures/**/.bosun*.yml")
seed pipeline_config "${files[@]}"
mapfile -t files < <(fixtures "$root/examples/deploy/bosun-server.yaml")
seed settings "${files[@]}"
# Report fixtures, sorted by what they are rather than where they are.
report_globs=("$root/tests/fixtures/**/*" "$root/plugins/*/tests/fixtures/**/*")
mapfile -t files < <(fixtures "${report_globs[@]}" | grep -E '\.xml$' || true)
for file in "${files[@]}"; do
    if grep -q '<coverage' "$file"; then
        seed cobertura_xml "$file"
    elif grep -q '<testsuite' "$file"; then
        seed junit_xml "$file"
    fi
done
mapfile -t files < <(fixtures "${report_globs[@]}" | grep -E '\.json$' || true)
for file in "${files[@]}"; do
    case "$(basename "$file")" in
    pylint*) seed pylint_json "$file" ;;
    eslint*) seed eslint_json "$file" ;;
    bandit*) seed bandit_json "$file" ;;
    esac
    case "$file" in
    */trivy/*) seed trivy_json "$file" ;;
    esac
done
mapfile -t files < <(fixtures "$shared/trivy/*.json")
seed trivy_json "${files[@]}"
# SARIF logs from real producers seed the SARIF reader (its first byte picks the
# workspace root: 0 none, anything else /workspace); being JSON, they also give the
# JSON report parsers differently shaped documents to start from.
mapfile -t files < <(fixtures "${report_globs[@]}" "$shared/trivy/*.sarif" | grep -E '\.sarif$' || true)
mkdir -p "$seeds/sarif"
for file in "${files[@]}"; do
    name=${file#"$root"/}
    name=${name#../}
    { printf '\x01'; cat "$file"; } >"$seeds/sarif/${name//\//_}"
done
mapfile -t files < <(fixtures "$shared/sarif/*" "$shared/trivy/*.sarif")
for target in pylint_json eslint_json bandit_json trivy_json; do
    seed "$target" "${files[@]}"
done
# Coverage in both formats seeds the coverage reader, which tells them apart.
mapfile -t files < <(fixtures "${report_globs[@]}" | grep -E '\.info$' || true)
seed lcov "${files[@]}"
mapfile -t files < <(fixtures "${report_globs[@]}" | grep -E '\.xml$' || true)
for file in "${files[@]}"; do
    if grep -q '<coverage' "$file"; then
        seed lcov "$file"
    fi
done
for target in "${targets[@]}"; do
    mkdir -p "$seeds/$target" "fuzz/corpus/$target"
done

# ---- build and run -----------------------------------------------------------------
logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"
echo "== building ${#targets[@]} fuzz target(s)"
build_failed=()
for target in "${targets[@]}"; do
    if ! cargo fuzz build "$target"; then
        build_failed+=("$target")
    fi
done

results=()
failed=0
for target in "${targets[@]}"; do
    log="$logs/$target.log"
    if [[ " ${build_failed[*]} " == *" $target "* ]]; then
        results+=("$target: BUILD FAILED (see the cargo output above)")
        failed=1
        continue
    fi
    echo "== fuzzing $target for ${seconds}s (log: ${log#"$root"/})"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is split into flags on purpose
    cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-30}" -print_final_stats=1 \
        ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
    if [[ -z "$execs" ]]; then
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    fi
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //' || true)
    files_kept=$(find "fuzz/corpus/$target" -type f | wc -l)
    artifact=$(grep -oE '(Test unit|Crash input|artifact) written to [^ ]+' "$log" | tail -1 | sed 's/.* written to //' || true)
    line="$target: ${execs:-?} executions, corpus ${corp:-?} (units/bytes in memory), $files_kept file(s) in fuzz/corpus/$target"
    if ((status != 0)) || [[ -n "$artifact" ]]; then
        failed=1
        kind=$(grep -oE 'ERROR: libFuzzer: [a-z-]+' "$log" | head -1 | sed 's/ERROR: libFuzzer: //' || true)
        if grep -q "panicked at" "$log"; then
            kind="panic: $(grep -m1 -A1 'panicked at' "$log" | tail -1)"
        fi
        line+=", CRASH (${kind:-exit status $status})"
        if [[ -n "$artifact" ]]; then
            line+=", artifact $artifact"
        else
            line+=", no artifact (see ${log#"$root"/})"
        fi
        tail -n 40 "$log"
    else
        line+=", no crash"
    fi
    results+=("$line")
done

echo
echo "== fuzz results (${seconds}s per target)"
printf '%s\n' "${results[@]}"
exit "$failed"
