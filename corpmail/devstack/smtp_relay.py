"""An SMTP server (aiosmtpd, no AUTH) that hands every message to Dovecot's LMTP.

Run in a thread by the test fixtures, or standalone for ``scripts/run``:
``python -m corpmail.devstack.smtp_relay --port 2525 --lmtp 127.0.0.1:24024``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import smtplib
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


class LmtpHandler:
    """aiosmtpd handler: one LMTP transaction per recipient, so each gets its own answer.

    (smtplib.LMTP reads a single reply after DATA; with several recipients the other
    per-recipient replies would be left unread on the wire.)
    """

    def __init__(self, lmtp_host: str, lmtp_port: int, timeout: float = 30.0) -> None:
        self.lmtp_host = lmtp_host
        self.lmtp_port = lmtp_port
        self.timeout = timeout
        self.delivered = 0  # messages x recipients handed over, for tests and logs

    def deliver(self, mail_from: str, rcpts: list[str], data: bytes) -> dict[str, str]:
        """Deliver to each recipient; return {recipient: error} for the refused ones."""
        failed: dict[str, str] = {}
        with smtplib.LMTP(self.lmtp_host, self.lmtp_port, timeout=self.timeout) as lmtp:
            for rcpt in rcpts:
                try:
                    refused = lmtp.sendmail(mail_from, [rcpt], data)
                    if refused:
                        code, text = refused[rcpt]
                        failed[rcpt] = f"{code} {text.decode(errors='replace')}"
                    else:
                        self.delivered += 1
                except smtplib.SMTPResponseException as exc:
                    failed[rcpt] = f"{exc.smtp_code} {_text(exc.smtp_error)}"
                    lmtp.rset()
                except smtplib.SMTPRecipientsRefused as exc:
                    code, text = exc.recipients[rcpt]
                    failed[rcpt] = f"{code} {_text(text)}"
                    lmtp.rset()
        return failed

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        try:
            failed = await asyncio.get_running_loop().run_in_executor(
                None, self.deliver, envelope.mail_from, list(envelope.rcpt_tos), data
            )
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("LMTP at %s:%s unreachable: %s", self.lmtp_host, self.lmtp_port, exc)
            return "451 4.3.0 Local delivery unavailable, try again later"
        if failed:
            log.info("LMTP refused %s", ", ".join(failed))
        if len(failed) == len(envelope.rcpt_tos):
            first = next(iter(failed.values()))
            code = first.split(" ", 1)[0]
            code = code if code[:1] in "45" and code.isdigit() else "550"
            return f"{code} Delivery failed: " + "; ".join(f"{r}: {e}" for r, e in failed.items())
        # Partial failure: SMTP has one answer per DATA, so accept and log the refused ones.
        return "250 2.0.0 Message delivered"


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class SmtpRelay:
    """aiosmtpd Controller on host:port (a free port when 0), delivering into LMTP."""

    def __init__(self, lmtp_host: str, lmtp_port: int, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        from corpmail.devstack.dovecot import free_port

        self.host = host
        self.port = port or free_port(host)
        self.handler = LmtpHandler(lmtp_host, lmtp_port)
        # No authenticator: AUTH is never advertised (Dovecot submission relays here).
        self.controller = Controller(
            self.handler, hostname=host, port=self.port, enable_SMTPUTF8=True,
            server_hostname="relay.corpmail.test", ready_timeout=10,
        )

    def start(self) -> SmtpRelay:
        self.controller.start()
        return self

    def stop(self) -> None:
        try:
            self.controller.stop()
        except (AssertionError, RuntimeError):  # already stopped
            pass

    def __enter__(self) -> SmtpRelay:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lmtp", required=True, help="Dovecot LMTP as host:port")
    args = parser.parse_args(argv)
    lmtp_host, _, lmtp_port = args.lmtp.rpartition(":")
    logging.basicConfig(level=logging.INFO, format="smtp-relay: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter
    relay = SmtpRelay(lmtp_host or "127.0.0.1", int(lmtp_port), args.host, args.port).start()
    print(f"smtp-relay: listening on {relay.host}:{relay.port}, delivering to {args.lmtp}",
          flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    relay.stop()


if __name__ == "__main__":
    main()
