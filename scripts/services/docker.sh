# shellcheck shell=bash
# Sourced by scripts/services.sh: the Docker Engine (Debian's docker.io), started here
# with the dockerd flags this machine's kernel allows.

DOCKER_SOCK=/var/run/docker.sock
export DOCKER_HOST="unix://$DOCKER_SOCK"
DOCKER_WAIT=90 # seconds

docker_answers() {
    [[ -S "$DOCKER_SOCK" ]] && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

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
            # shellcheck disable=SC2086 # the flags are words
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

# docker_status: one line; returns 1 (and marks it down) when no engine answers.
docker_status() {
    local flags
    if ! docker_answers; then
        echo "docker:   DOWN (no engine answers on $DOCKER_SOCK)"
        status_down
        return 1
    fi
    flags=$(cat "$STATE/dockerd.flags" 2>/dev/null || true)
    if pid_alive dockerd dockerd; then
        echo "docker:   up, engine $(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}'), pid $(cat "$STATE/dockerd.pid") (started by this script, flags: ${flags:-none})"
    else
        echo "docker:   up, engine $(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}') (not started by this script)"
    fi
}
