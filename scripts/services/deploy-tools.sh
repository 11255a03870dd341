# shellcheck shell=bash
# Sourced by scripts/services.sh: bosun/deploy-tools, bosun/base plus the recording
# stand-ins for helm and kubectl in scripts/services/deploy-tools/ (real Helm cannot be
# installed here). Tagged by a hash of the base image's tag and every file in that
# folder, like the other images.

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
    IMAGE_HASH["deploy-tools"]=$hash
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

deploy_image_status() { # needs IMAGE_HASH[base]
    local hash
    hash=$(deploy_image_hash)
    if docker image inspect "$IMAGE_REPO/deploy-tools:$hash" >/dev/null 2>&1; then
        echo "image:    $IMAGE_REPO/deploy-tools:$hash present"
    else
        echo "image:    $IMAGE_REPO/deploy-tools:$hash MISSING"
        status_down
    fi
}
