# shellcheck shell=bash
# Sourced by scripts/services.sh: the SMTP server the email tests deliver to, aiosmtpd
# (Debian's python3-aiosmtpd) on 127.0.0.1:8025 with STARTTLS (a test CA made here signs
# its certificate) and AUTH for one user; delivered messages land in a maildir under
# .bosun/services/smtp/mail. `scripts/services.sh smtp` starts only this one.

SMTP_ADDR=127.0.0.1:8025
SMTP_USER=bosun-test
SMTP_DIR="$STATE/smtp"
# Debian's interpreter, whose dist-packages hold python3-aiosmtpd (a pyenv python3 on
# PATH would not see it).
SMTP_PYTHON=/usr/bin/python3
SMTP_WAIT=15 # seconds

# The server answers EHLO and offers STARTTLS (a plain port squatter does not).
smtp_answers() {
    "$SMTP_PYTHON" - "$SMTP_ADDR" <<'PY' >/dev/null 2>&1
import smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
with smtplib.SMTP(host, int(port), timeout=3) as s:
    s.ehlo()
    sys.exit(0 if s.has_extn("starttls") else 1)
PY
}

# A test CA and the server's certificate (localhost and 127.0.0.1), made once.
smtp_certificates() {
    [[ -s "$SMTP_DIR/ca.pem" && -s "$SMTP_DIR/server.pem" && -s "$SMTP_DIR/server.key" ]] && return
    command -v openssl >/dev/null || die "openssl is not installed" "apt-get install openssl"
    local log="$SMTP_DIR/openssl.log"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Bosun test SMTP CA" \
            -keyout "$SMTP_DIR/ca.key" -out "$SMTP_DIR/ca.pem" &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
                -keyout "$SMTP_DIR/server.key" -out "$SMTP_DIR/server.csr" &&
            printf '%s\n' "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature,keyEncipherment" \
                "extendedKeyUsage=serverAuth" \
                "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$SMTP_DIR/server.ext" &&
            openssl x509 -req -in "$SMTP_DIR/server.csr" -days 3650 -CA "$SMTP_DIR/ca.pem" \
                -CAkey "$SMTP_DIR/ca.key" -CAcreateserial -extfile "$SMTP_DIR/server.ext" \
                -out "$SMTP_DIR/server.pem"
    } >"$log" 2>&1 || die "could not make the SMTP test certificates" "read $log" "$log"
    chmod 600 "$SMTP_DIR/ca.key" "$SMTP_DIR/server.key"
}

step_smtp() {
    local t0
    t0=$(now)
    mkdir -p "$SMTP_DIR/mail"
    if ! "$SMTP_PYTHON" -c 'import aiosmtpd' >/dev/null 2>&1; then
        apt_install python3-aiosmtpd
    fi
    smtp_certificates
    if [[ ! -s "$SMTP_DIR/password" ]]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$SMTP_DIR/password")
    fi
    if smtp_answers && pid_alive smtp smtp_server.py; then
        say "smtp: already answers on $SMTP_ADDR"
    elif smtp_answers; then
        # Another checkout's server has other credentials and another CA and maildir.
        die "an SMTP server this checkout did not start answers on $SMTP_ADDR" \
            "stop it (scripts/services.sh down in the checkout that started it), then re-run"
    else
        if port_open "$SMTP_ADDR"; then
            die "something that is not an SMTP server listens on $SMTP_ADDR" \
                "find it with 'ss -ltnp | grep ${SMTP_ADDR##*:}' and stop it"
        fi
        say "smtp: starting aiosmtpd on $SMTP_ADDR (STARTTLS, AUTH; log .bosun/services/smtp.log)"
        start_detached smtp "$SMTP_PYTHON" "$HELPERS/smtp_server.py" \
            --host "${SMTP_ADDR%:*}" --port "${SMTP_ADDR##*:}" \
            --cert "$SMTP_DIR/server.pem" --key "$SMTP_DIR/server.key" \
            --maildir "$SMTP_DIR/mail" --user "$SMTP_USER" --password-file "$SMTP_DIR/password"
        for _ in $(seq $((SMTP_WAIT * 5))); do
            smtp_answers && break
            pid_alive smtp smtp_server.py || die "the SMTP server exited while starting" \
                "read .bosun/services/smtp.log" "$STATE/smtp.log"
            sleep 0.2
        done
        smtp_answers || die "the SMTP server did not answer within ${SMTP_WAIT}s" \
            "read .bosun/services/smtp.log" "$STATE/smtp.log"
    fi
    record "smtp" "$(elapsed "$t0")"
}

# The lines .bosun/services.env gets for the email tests.
smtp_env() {
    cat <<ENV
BOSUN_TEST_SMTP=$SMTP_ADDR
BOSUN_TEST_SMTP_USER=$SMTP_USER
BOSUN_TEST_SMTP_PASSWORD=$(cat "$SMTP_DIR/password")
BOSUN_TEST_SMTP_CA=$SMTP_DIR/ca.pem
BOSUN_TEST_SMTP_MAILDIR=$SMTP_DIR/mail
ENV
}

smtp_status() {
    if smtp_answers; then
        echo "smtp:     up on $SMTP_ADDR (STARTTLS, AUTH)$(pid_alive smtp smtp_server.py && echo ", pid $(cat "$STATE/smtp.pid")")"
    else
        echo "smtp:     DOWN ($SMTP_ADDR)"
        status_down
    fi
}
