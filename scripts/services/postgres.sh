# shellcheck shell=bash
# Sourced by scripts/services.sh: Debian's PostgreSQL for the run store's tests, a
# cluster of its own under .bosun/services/postgres/, run as the `postgres` system user
# (the server refuses root), listening on 127.0.0.1 only. Password authentication over
# TCP (user `bosun`, database `bosun`); each test makes a schema of its own in it.

POSTGRES_ADDR=127.0.0.1:5432
POSTGRES_USER=bosun
POSTGRES_PASSWORD=bosun-test # a test cluster on the loopback address only
POSTGRES_DB=bosun
# shellcheck disable=SC2034 # read by env.sh and services.sh
POSTGRES_URL="postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@$POSTGRES_ADDR/$POSTGRES_DB"
POSTGRES_WAIT=30 # seconds

# The newest installed server's binaries (Debian keeps them out of PATH).
postgres_bin() {
    find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1
}

postgres_answers() {
    PGPASSWORD=$POSTGRES_PASSWORD psql -h "${POSTGRES_ADDR%:*}" -p "${POSTGRES_ADDR##*:}" \
        -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc 'SELECT 1' >/dev/null 2>&1
}

step_postgres() {
    local t0 bin data="$STATE/postgres"
    t0=$(now)
    if postgres_answers; then
        say "postgres: already answers on $POSTGRES_ADDR"
        record "postgres" "$(elapsed "$t0")"
        return
    fi
    bin=$(postgres_bin)
    if [[ -z "$bin" ]] || ! command -v psql >/dev/null; then
        apt_install postgresql postgresql-client
        bin=$(postgres_bin)
    fi
    [[ -x "$bin/postgres" ]] || die "PostgreSQL's server is not installed" "apt-get install postgresql"
    id postgres >/dev/null 2>&1 || die "the postgres system user is missing" \
        "apt-get install --reinstall postgresql-common"
    if port_open "$POSTGRES_ADDR"; then
        die "something that is not Bosun's test PostgreSQL listens on $POSTGRES_ADDR" \
            "find it with 'ss -ltnp | grep ${POSTGRES_ADDR##*:}' and stop it"
    fi
    mkdir -p "$data"
    # The server runs as `postgres`: it must reach its folder through the checkout.
    chmod o+x "$ROOT/.bosun" "$STATE"
    chown postgres:postgres "$data"
    chmod 700 "$data"
    if [[ ! -s "$data/PG_VERSION" ]]; then
        say "postgres: initdb in .bosun/services/postgres"
        local pwfile
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        chown postgres "$pwfile"
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/initdb" -D "$data" -U "$POSTGRES_USER" --pwfile="$pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
            >"$STATE/postgres-initdb.log" 2>&1 || {
            rm -f "$pwfile"
            die "initdb failed" "remove .bosun/services/postgres and re-run" "$STATE/postgres-initdb.log"
        }
        rm -f "$pwfile"
    fi
    say "postgres: starting on $POSTGRES_ADDR (log .bosun/services/postgres.log)"
    # Tests open many short-lived stores in parallel; fsync off: a test cluster's data
    # may be lost on a power cut, never its consistency while it runs.
    start_detached postgres setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/postgres" -D "$data" \
        -c listen_addresses="${POSTGRES_ADDR%:*}" -c port="${POSTGRES_ADDR##*:}" \
        -c unix_socket_directories="$data" -c max_connections=300 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off
    for _ in $(seq $((POSTGRES_WAIT * 5))); do
        PGPASSWORD=$POSTGRES_PASSWORD psql -h "${POSTGRES_ADDR%:*}" -p "${POSTGRES_ADDR##*:}" \
            -U "$POSTGRES_USER" -d postgres -tAc 'SELECT 1' >/dev/null 2>&1 && break
        pid_alive postgres postgres || die "postgres exited while starting" \
            "read .bosun/services/postgres.log" "$STATE/postgres.log"
        sleep 0.2
    done
    if ! postgres_answers; then
        PGPASSWORD=$POSTGRES_PASSWORD createdb -h "${POSTGRES_ADDR%:*}" -p "${POSTGRES_ADDR##*:}" \
            -U "$POSTGRES_USER" "$POSTGRES_DB" >>"$STATE/postgres.log" 2>&1 || true
    fi
    postgres_answers || die "postgres did not answer within ${POSTGRES_WAIT}s" \
        "read .bosun/services/postgres.log" "$STATE/postgres.log"
    record "postgres" "$(elapsed "$t0")"
}

postgres_status() {
    if postgres_answers; then
        echo "postgres: up on $POSTGRES_ADDR$(pid_alive postgres postgres && echo ", pid $(cat "$STATE/postgres.pid")")"
    else
        echo "postgres: DOWN ($POSTGRES_ADDR)"
        status_down
    fi
}
