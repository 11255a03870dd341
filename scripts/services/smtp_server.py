"""A real SMTP server for Bosun's email tests (started by scripts/services/smtp.sh).

aiosmtpd (Debian's python3-aiosmtpd) on one address: STARTTLS with the certificate the
script made, AUTH (PLAIN or LOGIN, only after STARTTLS) for one user, and every accepted
message written to a maildir with the envelope in X-MailFrom and X-RcptTo headers, so a
test reads back exactly what was delivered to its own recipients.
"""

import argparse
import hmac
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="server key (PEM)")
    parser.add_argument("--maildir", required=True, help="where accepted messages go")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    args = parser.parse_args()

    with open(args.password_file, "rb") as f:
        password = f.read().strip()
    user = args.user.encode()
    # mailbox.Maildir makes its tmp/new/cur only when the folder itself is new.
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)

    def authenticator(_server, _session, _envelope, _mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and hmac.compare_digest(auth_data.login, user)
            and hmac.compare_digest(auth_data.password, password)
        )
        return AuthResult(success=ok, handled=False)

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    controller = Controller(
        Mailbox(args.maildir),
        hostname=args.host,
        port=args.port,
        server_hostname="localhost",
        tls_context=tls,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    )
    controller.start()
    print(f"smtp: listening on {args.host}:{args.port}, mail to {args.maildir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
