# shellcheck shell=bash
# Sourced by scripts/services.sh: the tool and runtime images, each a Debian rootfs
# built by mmdebstrap and piped into `docker import` (no image can be pulled here).
# The images are data (the define_image table below); one build recipe serves them all.

# Repository prefix of the images (another prefix builds a separate set, e.g. to time a
# cold build without touching the images tests are using).
IMAGE_REPO=${BOSUN_IMAGE_REPO:-bosun}
# Every image's tag by image name, also the ones built FROM bosun/base (deploy-tools.sh,
# trivy.sh); read by the registry push and the env file. Those files quote the keys
# they assign, since only here is the array known to be associative.
declare -A IMAGE_HASH
SUITE=bookworm # the Debian suite of every image that names no other (suite=)
IMAGE_BUILD_TIMEOUT=1500 # seconds, per image

# ------------------------------------------------------------------------ the table

# define_image NAME FIELD=VALUE...: one image.
#   variant=   mmdebstrap --variant (essential, or apt for images that keep apt)
#   packages=  the Debian packages (--include), space-separated
#   hook=      a --customize-hook script in scripts/services/, run after
#              add-bosun-user.sh (which every image gets)
#   tag=       the friendly tag users write in .bosun.yml (runtime images only; the
#              tool images are named by hash or :latest); it follows the latest build
#   check=     a shell command that proves the tools run, as uid 1000 with no network;
#              a build is tagged only once it passes
#   cmd=       the image's own command (JSON argv) when it is a service, not a shell
#   suite=     the Debian suite when not $SUITE (a runtime version bookworm lacks)
#   repo=      the repository under $IMAGE_REPO when not NAME: another version of a
#              runtime shares its repository, keeps its own friendly tag and leaves
#              :latest to the image named after the repository
IMAGES=()
declare -A IMAGE_VARIANT IMAGE_PACKAGES IMAGE_HOOKS IMAGE_TAG IMAGE_CHECK IMAGE_CMD IMAGE_SUITE IMAGE_NAME
define_image() {
    local name=$1 field
    shift
    IMAGES+=("$name")
    IMAGE_HOOKS[$name]=add-bosun-user.sh
    IMAGE_TAG[$name]=
    IMAGE_CMD[$name]=
    IMAGE_SUITE[$name]=$SUITE
    IMAGE_NAME[$name]=$IMAGE_REPO/$name
    for field in "$@"; do
        case $field in
        variant=*) IMAGE_VARIANT[$name]=${field#variant=} ;;
        packages=*) IMAGE_PACKAGES[$name]=${field#packages=} ;;
        hook=*) IMAGE_HOOKS[$name]+=" ${field#hook=}" ;;
        tag=*) IMAGE_TAG[$name]=${field#tag=} ;;
        check=*) IMAGE_CHECK[$name]=${field#check=} ;;
        cmd=*) IMAGE_CMD[$name]=${field#cmd=} ;;
        suite=*) IMAGE_SUITE[$name]=${field#suite=} ;;
        repo=*) IMAGE_NAME[$name]=$IMAGE_REPO/${field#repo=} ;;
        *) die "image $name: unknown field '$field'" "see define_image in scripts/services/images.sh" ;;
        esac
    done
    [[ -n "${IMAGE_VARIANT[$name]:-}" && -n "${IMAGE_PACKAGES[$name]:-}" && -n "${IMAGE_CHECK[$name]:-}" ]] ||
        die "image $name needs variant=, packages= and check=" "see define_image in scripts/services/images.sh"
}

# minimal: what runner tests need (sleep, sh -c, id, ps) and useradd
define_image base variant=essential \
    packages="bash coreutils procps passwd" \
    check='id && sleep 0 && ps -o pid,comm -p 1'
define_image python-tools variant=apt \
    packages="python3 pylint python3-pytest python3-pytest-cov python3-coverage bandit git ca-certificates passwd" \
    hook=python-tools-hook.sh \
    check='python3 --version && pylint --version && pytest --version && coverage --version && bandit --version && git --version'
define_image node-tools variant=apt \
    packages="nodejs eslint mocha passwd" \
    check='node --version && eslint --version && mocha --version'
# The runtimes: general-purpose, projects install their own tools with pip/venv or npm.
# Their checks prove the versions the friendly tags promise (and, for python, a venv
# with pip in /tmp).
define_image python variant=apt tag=3.11 \
    packages="python3 python3-pip python3-venv git ca-certificates passwd" \
    check='python3 --version | grep -q "^Python 3\.11\." && python3 -m venv /tmp/v && /tmp/v/bin/pip --version && python3 -m pip --version && git --version'
# Python 3.13 is trixie's (bookworm has 3.11): a second version for matrix builds.
define_image python-3.13 variant=apt tag=3.13 suite=trixie repo=python \
    packages="python3 python3-pip python3-venv git ca-certificates passwd" \
    check='python3 --version | grep -q "^Python 3\.13\." && python3 -m venv /tmp/v && /tmp/v/bin/pip --version && python3 -m pip --version && git --version'
define_image node variant=apt tag=18 \
    packages="nodejs npm git ca-certificates passwd" \
    check='node --version | grep -q "^v18\." && npm --version && git --version'
# A service for command steps' integration tests (`services:` in .bosun.yml): Redis,
# keeping nothing on disk (the hardened container's root is read-only; /tmp is tmpfs)
# and answering clients on the step's private network without a password.
define_image redis variant=essential tag=7 \
    packages="redis-server passwd" \
    cmd='["redis-server","--protected-mode","no","--save","","--appendonly","no","--dir","/tmp"]' \
    check='redis-server --version | grep -q "v=7\." && redis-cli --version'

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

# ------------------------------------------------------------------- reading the table

image_defined() { # NAME: dies unless the table has it
    [[ -n "${IMAGE_VARIANT[$1]:-}" ]] || die "unknown image $1" "one of: ${IMAGES[*]}"
}

# image_packages NAME: its packages, one a line, sorted and without repeats.
image_packages() {
    local packages
    read -ra packages <<<"${IMAGE_PACKAGES[$1]}"
    printf '%s\n' "${packages[@]}" | LC_ALL=C sort -u
}

# The tag: first 12 hex of sha256 over the sorted package list plus every customisation
# (variant, suite, dpkg options, import metadata, the hooks).
image_hash() {
    local hooks hook
    image_defined "$1"
    read -ra hooks <<<"${IMAGE_HOOKS[$1]}"
    {
        echo "suite=${IMAGE_SUITE[$1]}"
        echo "variant=${IMAGE_VARIANT[$1]}"
        image_packages "$1"
        printf '%s\n' "${DPKG_OPTS[@]}" "${IMPORT_CHANGES[@]}"
        if [[ -n "${IMAGE_CMD[$1]}" ]]; then
            echo "cmd=${IMAGE_CMD[$1]}"
        fi
        for hook in "${hooks[@]}"; do
            cat "$HELPERS/$hook"
        done
    } | sha256sum | cut -c1-12
}

# ---------------------------------------------------------------------------- building

# apt_sources SUITE: mmdebstrap's mirror arguments, one a line.
apt_sources() {
    if [[ $1 != "$SUITE" ]]; then
        # Another suite: its main, updates and security parts of deb.debian.org, checked
        # against the host's apt keys (debian-archive-keyring has the newer releases').
        echo "deb http://deb.debian.org/debian $1 main"
        echo "deb http://deb.debian.org/debian $1-updates main"
        echo "deb http://deb.debian.org/debian-security $1-security main"
    elif [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        # The machine's own apt sources (deb822), so the images get the same mirror plus
        # bookworm-updates and bookworm-security; plain deb.debian.org otherwise.
        echo /etc/apt/sources.list.d/debian.sources
    else
        echo http://deb.debian.org/debian
    fi
}

# build_image NAME HASH (runs as a background job): rootfs tar on a pipe into docker
# import, under a temporary tag; tagged NAME:HASH and NAME:latest only once its tools run.
build_image() {
    local name=$1 hash=$2 ref variant packages hook hook_files hooks=() cmd_change=() sources
    image_defined "$name"
    if [[ -n "${IMAGE_CMD[$name]}" ]]; then
        cmd_change=(--change "CMD ${IMAGE_CMD[$name]}")
    fi
    ref=${IMAGE_NAME[$name]}
    variant=${IMAGE_VARIANT[$name]}
    packages=$(image_packages "$name" | paste -sd, -)
    read -ra hook_files <<<"${IMAGE_HOOKS[$name]}"
    for hook in "${hook_files[@]}"; do
        hooks+=(--customize-hook="sh '$HELPERS/$hook' \"\$1\"")
    done
    mapfile -t sources < <(apt_sources "${IMAGE_SUITE[$name]}")
    echo "building $ref:$hash: mmdebstrap --variant=$variant --include=$packages"
    docker rmi "$ref:unverified-$hash" >/dev/null 2>&1 || true
    mmdebstrap --variant="$variant" --include="$packages" \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        "${DPKG_OPTS[@]}" "${hooks[@]}" \
        "${IMAGE_SUITE[$name]}" - "${sources[@]}" |
        docker import "${IMPORT_CHANGES[@]}" "${cmd_change[@]}" \
            --message "bosun $name: mmdebstrap $variant $packages" - "$ref:unverified-$hash"
    # Prove the tools run, as the non-root user, with no network.
    docker run --rm --network none --user 1000:1000 "$ref:unverified-$hash" \
        sh -c "${IMAGE_CHECK[$name]}"
    docker tag "$ref:unverified-$hash" "$ref:$hash"
    tag_names "$name" "$hash"
    docker rmi "$ref:unverified-$hash" >/dev/null
    echo "built $ref:$hash"
}

# tag_names NAME HASH: :latest (unless the image shares another's repository) and the
# runtime images' user-facing tag follow the latest build.
tag_names() {
    local ref=${IMAGE_NAME[$1]} tag=${IMAGE_TAG[$1]}
    if [[ $ref == "$IMAGE_REPO/$1" ]]; then
        docker tag "$ref:$2" "$ref:latest"
    fi
    if [[ -n "$tag" ]]; then
        docker tag "$ref:$2" "$ref:$tag"
    fi
}

step_images() {
    local name t0 to_build=() failed=()
    t0=$(now)
    for name in "${IMAGES[@]}"; do
        IMAGE_HASH[$name]=$(image_hash "$name")
        if docker image inspect "${IMAGE_NAME[$name]}:${IMAGE_HASH[$name]}" >/dev/null 2>&1; then
            tag_names "$name" "${IMAGE_HASH[$name]}"
            say "image ${IMAGE_NAME[$name]}:${IMAGE_HASH[$name]} already built"
        else
            to_build+=("$name")
        fi
    done
    # the Trivy wheel downloads while the rootfs images build (trivy.sh)
    start_trivy_fetch
    if [[ ${#to_build[@]} -gt 0 ]]; then
        need_root
        command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed" "apt-get install mmdebstrap"
        # In parallel: downloads overlap, and each job is mostly I/O bound.
        for name in "${to_build[@]}"; do
            say "image ${IMAGE_NAME[$name]}:${IMAGE_HASH[$name]}: building (log .bosun/services/image-$name.log)"
            bg_job "image-$name" "$IMAGE_BUILD_TIMEOUT" \
                bash "$ROOT/scripts/services.sh" __build-image "$name" "${IMAGE_HASH[$name]}"
        done
        for name in "${to_build[@]}"; do
            if wait_job "image-$name"; then
                say "image ${IMAGE_NAME[$name]}:${IMAGE_HASH[$name]} built"
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

# The smoke test every task container relies on: bosun/base runs as uid 1000, no network.
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

# images_status: one line per image; sets every IMAGE_HASH (the later images need base's).
images_status() {
    local name
    for name in "${IMAGES[@]}"; do
        IMAGE_HASH[$name]=$(image_hash "$name")
        if docker image inspect "${IMAGE_NAME[$name]}:${IMAGE_HASH[$name]}" >/dev/null 2>&1; then
            echo "image:    ${IMAGE_NAME[$name]}:${IMAGE_HASH[$name]} present"
        else
            echo "image:    ${IMAGE_NAME[$name]}:${IMAGE_HASH[$name]} MISSING"
            status_down
        fi
    done
}
