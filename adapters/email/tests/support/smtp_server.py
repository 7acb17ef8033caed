#!/usr/bin/python3
"""A real SMTP server for omnibridge-email's tests (Debian's python3-aiosmtpd).

What it does:
- listens on 127.0.0.1:<port> with an aiosmtpd Controller (plain text, no TLS); with
  `--port 0` (the default) the kernel picks a free port;
- prints the chosen port as the first line on stdout, once the server answers;
- delivers every accepted message into the Maildir `--maildir` (created when missing) with
  `mailbox.Maildir(path).add(bytes)`, so the file lands in `<maildir>/new/` exactly as a
  local delivery agent would put it (line ends turned into LF) and Dovecot can later read it
  as that user's INBOX;
- with `--user U --password P`: offers AUTH PLAIN and LOGIN (over plain text:
  auth_require_tls=False) and accepts only that pair; with `--user U --token T`: offers
  AUTH XOAUTH2 and accepts only `user=U` with `auth=Bearer T`. With either, AUTH is
  required before MAIL (530 otherwise); bad credentials get `535 5.7.8`;
- recipient rules, by the local part of the RCPT address:
  - `reject...`        -> `550 5.1.1 No such user` at RCPT, always;
  - `tempfail-once...` -> accepted at RCPT, then `451 4.3.0 Try again later` after DATA
                          the first time a message with that Message-ID is sent to that
                          recipient; the same (recipient, Message-ID) is accepted after;
                          (the Message-ID is only known after DATA, hence the later reply);
  - `tempfail...` (any other) -> `451 4.3.0 Try again later` at RCPT, always;
  - anything else is accepted;
- with `--tls-cert C --tls-key K`: requires STARTTLS (`--tls-mode starttls`, the default) or
  speaks TLS from the first byte (`--tls-mode implicit`);
- runs until SIGTERM / SIGINT or until stdin is closed (so it dies with the test process
  that spawned it even when that one is killed).

Usage: smtp_server.py --maildir DIR [--port N] [--user U (--password P | --token T)]
                      [--tls-cert C --tls-key K [--tls-mode starttls|implicit]]
"""

import argparse
import base64
import logging
import mailbox
import os
import signal
import ssl
import sys
import threading
import warnings
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

TEMPFAIL = "451 4.3.0 Try again later"
REJECT = "550 5.1.1 No such user"


def local_part(address):
    return address.rsplit("@", 1)[0].lower()


class Handler:
    def __init__(self, maildir):
        # An existing empty directory (a test's temp dir) is not a Maildir yet.
        # Owned like the Maildir itself, so a Dovecot reading it as its mail user can write.
        if os.path.isdir(maildir):
            owner = os.stat(maildir)
            for sub in ("tmp", "new", "cur"):
                path = os.path.join(maildir, sub)
                if not os.path.isdir(path):
                    os.makedirs(path)
                    os.chown(path, owner.st_uid, owner.st_gid)
        self.maildir = mailbox.Maildir(maildir, create=True)
        self.lock = threading.Lock()
        # (recipient, Message-ID) pairs already answered 451 by the tempfail-once rule.
        self.tempfailed = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = local_part(address)
        if local.startswith("reject"):
            return REJECT
        if local.startswith("tempfail") and not local.startswith("tempfail-once"):
            return TEMPFAIL
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        headers = BytesHeaderParser(policy=default_policy).parsebytes(content)
        message_id = str(headers.get("Message-ID", "")).strip()
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                key = (rcpt.lower(), message_id)
                if local_part(rcpt).startswith("tempfail-once") and key not in self.tempfailed:
                    self.tempfailed.add(key)
                    return TEMPFAIL
            self.maildir.add(content.replace(b"\r\n", b"\n"))
        return "250 Message accepted for delivery"


def password_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd then answers 535 itself (the default means "already answered").
        return AuthResult(success=ok, handled=False)

    return authenticate


class XOAuth2Handler(Handler):
    """Adds the AUTH XOAUTH2 mechanism (initial response only, as lettre sends it)."""

    def __init__(self, maildir, user, token):
        super().__init__(maildir)
        self.expected = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()

    async def auth_XOAUTH2(self, server, args):
        if len(args) != 2:
            await server.push("501 5.5.2 XOAUTH2 needs an initial response")
            return AuthResult(success=False, handled=True)
        try:
            data = base64.b64decode(args[1].encode(), validate=True)
        except Exception:
            await server.push("501 5.5.2 Can't decode base64")
            return AuthResult(success=False, handled=True)
        return AuthResult(success=data == self.expected, handled=False, auth_data=data)


class EphemeralController(Controller):
    """A Controller that may bind port 0 and then knows which port it got."""

    async def _bind(self):
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self):
        return self._bind()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--token")
    parser.add_argument("--tls-cert", help="PEM certificate (chain) for TLS")
    parser.add_argument("--tls-key", help="PEM private key for TLS")
    parser.add_argument(
        "--tls-mode", choices=["starttls", "implicit"], default="starttls",
        help="with --tls-cert: STARTTLS required (default) or TLS from the first byte",
    )
    args = parser.parse_args()
    # AUTH without TLS is the point here (a local test server): no warning about it.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    smtp_kwargs = {}
    if args.token is not None:
        if args.user is None:
            parser.error("--token needs --user")
        handler = XOAuth2Handler(args.maildir, args.user, args.token)
        # Only XOAUTH2 accepts anything; PLAIN / LOGIN would fail every login.
        smtp_kwargs.update(auth_exclude_mechanism=["PLAIN", "LOGIN"])
    else:
        handler = Handler(args.maildir)
        if args.user is not None:
            if args.password is None:
                parser.error("--user needs --password or --token")
            smtp_kwargs.update(authenticator=password_authenticator(args.user, args.password))
    if args.user is not None:
        smtp_kwargs.update(auth_required=True, auth_require_tls=False)

    ssl_context = None
    if args.tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_mode == "implicit":
            ssl_context = context
        else:
            smtp_kwargs.update(tls_context=context, require_starttls=True)

    controller = EphemeralController(
        handler, hostname="127.0.0.1", port=args.port, server_hostname="smtp.test",
        ssl_context=ssl_context, **smtp_kwargs
    )
    controller.start()
    print(controller.port, flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    def watch_stdin():
        sys.stdin.buffer.read()  # returns at EOF: the parent is gone
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not done.wait(1.0):
        pass
    controller.stop()


if __name__ == "__main__":
    main()
