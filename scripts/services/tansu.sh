# shellcheck shell=bash
# Sourced by scripts/services.sh: the Kafka broker, Tansu (cargo install tansu, with the
# toolchain pinned in rust-toolchain.toml) on 127.0.0.1:9092, memory storage.

KAFKA_ADDR=127.0.0.1:9092
TANSU_VERSION=0.6.0
TANSU_FEATURES=dynostore,libsql
TANSU_WAIT=30              # seconds
TANSU_INSTALL_TIMEOUT=3600 # seconds

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

# The slowest step: compiles in the background while the other services start.
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

tansu_status() {
    if kafka_answers; then
        echo "tansu:    up, $(python3 "$HELPERS/kafka_ping.py" "$KAFKA_ADDR")$(pid_alive tansu tansu && echo ", pid $(cat "$STATE/tansu.pid")")"
    else
        echo "tansu:    DOWN ($KAFKA_ADDR)$(tansu_bin >/dev/null || echo ', not installed')"
        status_down
    fi
}
