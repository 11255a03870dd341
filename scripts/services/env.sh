# shellcheck shell=bash
# Sourced by scripts/services.sh: .bosun/services.env, the services' addresses and the
# images' hashed names for the tests (KEY=VALUE lines, exported before `cargo test`).

ENV_FILE="$ROOT/.bosun/services.env"

write_env() {
    local tmp
    tmp=$(mktemp "$ENV_FILE.XXXXXX")
    cat >"$tmp" <<ENV
BOSUN_TEST_DOCKER=unix://$DOCKER_SOCK
BOSUN_TEST_KAFKA=$KAFKA_ADDR
BOSUN_TEST_REGISTRY=$REGISTRY_ADDR
BOSUN_TEST_PYTHON_IMAGE=$IMAGE_REPO/python-tools:${IMAGE_HASH[python-tools]}
BOSUN_TEST_NODE_IMAGE=$IMAGE_REPO/node-tools:${IMAGE_HASH[node-tools]}
BOSUN_TEST_BASE_IMAGE=$IMAGE_REPO/base:${IMAGE_HASH[base]}
BOSUN_TEST_DEPLOY_IMAGE=$IMAGE_REPO/deploy-tools:${IMAGE_HASH[deploy-tools]}
BOSUN_TEST_TRIVY_IMAGE=$IMAGE_REPO/trivy:${IMAGE_HASH[trivy]}
BOSUN_TEST_PYTHON_RUNTIME_IMAGE=$IMAGE_REPO/python:${IMAGE_HASH[python]}
BOSUN_TEST_PYTHON_3_13_RUNTIME_IMAGE=$IMAGE_REPO/python:${IMAGE_HASH[python-3.13]}
BOSUN_TEST_NODE_RUNTIME_IMAGE=$IMAGE_REPO/node:${IMAGE_HASH[node]}
BOSUN_TEST_REDIS_IMAGE=$IMAGE_REPO/redis:${IMAGE_HASH[redis]}
BOSUN_TEST_CHROMIUM=$(command -v chromium)
$(smtp_env)
BOSUN_TEST_POSTGRES=$POSTGRES_URL
ENV
    mv "$tmp" "$ENV_FILE"
    say "wrote .bosun/services.env:"
    sed 's/^/    /' "$ENV_FILE"
}

# `services.sh smtp`: the SMTP lines replaced in (or added to) the file, the rest kept.
write_smtp_env() {
    local tmp
    tmp=$(mktemp "$ENV_FILE.XXXXXX")
    if [[ -f "$ENV_FILE" ]]; then
        grep -v '^BOSUN_TEST_SMTP' "$ENV_FILE" >"$tmp" || true
    fi
    smtp_env >>"$tmp"
    mv "$tmp" "$ENV_FILE"
    say "wrote the SMTP lines of .bosun/services.env"
}

env_status() {
    if [[ -f "$ENV_FILE" ]]; then
        echo "env:      .bosun/services.env present"
    else
        echo "env:      .bosun/services.env MISSING (run scripts/services.sh)"
        status_down
    fi
}
