# shellcheck shell=bash
# Sourced by scripts/services.sh: the image registry (Debian's docker-registry,
# distribution 2.8) on 127.0.0.1:5000, plain HTTP, data under .bosun/services/.

REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_WAIT=30 # seconds

registry_answers() {
    curl -sf --max-time 3 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1
}

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
        cat >"$STATE/registry.yml" <<YAML
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
YAML
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

registry_status() {
    if registry_answers; then
        echo "registry: up on http://$REGISTRY_ADDR/v2/$(pid_alive registry docker-registry && echo ", pid $(cat "$STATE/registry.pid")")"
    else
        echo "registry: DOWN ($REGISTRY_ADDR)"
        status_down
    fi
}
