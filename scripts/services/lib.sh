# shellcheck shell=bash
# Sourced by scripts/services.sh: what every service shares (the state folder, messages,
# status, timings, detached services, background jobs). The dispatcher sets ROOT and
# HELPERS.

STATE="$ROOT/.bosun/services"

export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------------------- messages

say() { echo "services: $*"; }
warn() { echo "services: WARNING: $*" >&2; }

# die WHAT HOW [LOG]: what failed, how to fix it, and the end of the log if there is one.
die() {
    echo "services: FAILED: $1" >&2
    echo "services: how to fix: $2" >&2
    if [[ -n "${3:-}" && -s "${3:-}" ]]; then
        echo "services: last lines of $3:" >&2
        tail -n 25 "$3" | sed 's/^/    | /' >&2
    fi
    exit 1
}

# `status` prints one line per service and image; status_down marks one that is down or
# missing, and status_rc is then the exit code (1).
STATUS_RC=0
status_down() { STATUS_RC=1; }
status_rc() { return "$STATUS_RC"; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "this step needs root (apt-get, dockerd)" \
        "run scripts/services.sh as root (CI and the dev machines are root)"
}

# ----------------------------------------------------------------------------- timings

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Timings of this run, printed at the end of `up`.
TIMINGS=()
record() { TIMINGS+=("$(printf '%-28s %6ss' "$1" "$2")"); }

# ------------------------------------------------------------------- detached services

port_open() { # HOST:PORT
    timeout 2 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null
}

# start_detached NAME CMD...: runs CMD in its own session, detached from this script's
# terminal and output, logging to $STATE/NAME.log; the process writes its own pid file.
start_detached() {
    local name=$1
    shift
    : >"$STATE/$name.log"
    rm -f "$STATE/$name.pid"
    # shellcheck disable=SC2016 # $$ and $@ expand in the child shell
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$@" \
        </dev/null >>"$STATE/$name.log" 2>&1 &
    disown || true
    for _ in $(seq 50); do
        [[ -s "$STATE/$name.pid" ]] && return 0
        sleep 0.1
    done
    die "could not start $name" "run it by hand to see why: $*" "$STATE/$name.log"
}

# pid_is PID PATTERN: PID is alive (not a zombie) and its command line matches.
pid_is() {
    [[ -n "$1" && -r /proc/$1/cmdline ]] && tr '\0' ' ' </proc/"$1"/cmdline | grep -q -- "$2"
}

# pid_alive NAME PATTERN: the pid in NAME.pid is alive and its command line matches.
pid_alive() {
    local pid
    pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
    pid_is "$pid" "$2"
}

stop_service() { # NAME PATTERN WAIT_SECONDS
    local name=$1 pattern=$2 limit=$3 pid
    if ! pid_alive "$name" "$pattern"; then
        say "$name: not running from this script (no live pid file)"
        rm -f "$STATE/$name.pid"
        return
    fi
    pid=$(cat "$STATE/$name.pid")
    say "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((limit * 5))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name (pid $pid) ignored SIGTERM for ${limit}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
}

# ------------------------------------------------------------------- background jobs

BG_PIDS=()
cleanup_jobs() {
    local rc=$? pid
    if [[ $rc -ne 0 ]]; then
        for pid in "${BG_PIDS[@]}"; do
            # each job is its own process group (setsid): end it and its children
            kill -TERM -- "-$pid" 2>/dev/null || true
        done
    fi
}

# bg_job NAME TIMEOUT CMD...: runs CMD in the background in its own process group,
# output to $STATE/NAME.log; wait_job NAME collects it.
declare -A JOB_PID JOB_START
bg_job() {
    local name=$1 limit=$2
    shift 2
    setsid timeout "$limit" "$@" </dev/null >"$STATE/$name.log" 2>&1 &
    JOB_PID[$name]=$!
    JOB_START[$name]=$(now)
    BG_PIDS+=("$!")
}
wait_job() { # NAME -> returns the job's exit code
    local rc=0
    wait "${JOB_PID[$1]}" || rc=$?
    record "$1" "$(elapsed "${JOB_START[$1]}")"
    return $rc
}
