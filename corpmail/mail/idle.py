"""IMAP IDLE (RFC 2177) on one selected folder, read without blocking from a selector loop."""

from __future__ import annotations

import contextlib
import re
import ssl

from flask_babel import gettext as _

from corpmail.mail.errors import MailConnectionError, MailProtocolError
from corpmail.mail.imap import ImapSession

NEW_MAIL = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.IGNORECASE)
BYE = re.compile(rb"^\* BYE\b ?(.*)", re.IGNORECASE)
MAX_LINE = 64 * 1024  # an untagged IDLE line is short; more means the stream is lost
RECV_SIZE = 64 * 1024


class IdleSession(ImapSession):
    """An ImapSession that can sit in IDLE on its selected folder.

    While idling, `read_news()` reads the socket itself, without blocking. imapclient's
    idle_check() reads through imaplib's buffered file instead, where "no data yet" and
    "the server closed the connection" look alike, so a selector would spin on a dead
    socket. Only whole CRLF lines are parsed; a partial line waits for the rest."""

    _partial = b""
    _idling = False

    @property
    def can_idle(self) -> bool:
        return "IDLE" in self.capabilities

    def fileno(self) -> int:
        """The socket to register with a selector while idling."""
        if self._client is None:
            raise MailConnectionError(_("The IMAP session is closed."))
        return self._client.socket().fileno()

    def start_idle(self) -> None:
        """IDLE on the selected folder; the server then reports new mail unasked."""
        self._require_selected()
        with self._wire():
            self._client.idle()
            self._client.socket().setblocking(False)
        self._partial = b""
        self._idling = True

    def read_news(self) -> bool:
        """Read what the server sent (call when the socket is readable): True when a
        message arrived (EXISTS / RECENT). MailConnectionError when the server closed
        the connection or said BYE."""
        with self._wire():
            sock = self._client.socket()
            chunks = []
            while True:
                try:
                    data = sock.recv(RECV_SIZE)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break  # all read (TLS: also what the TLS layer had decrypted)
                if not data:
                    raise MailConnectionError(
                        _("%(where)s closed the connection.", where=f"{self.host}:{self.port}"))
                chunks.append(data)
        return self._parse(b"".join(chunks))

    def _parse(self, data: bytes) -> bool:
        *lines, self._partial = (self._partial + data).split(b"\r\n")
        if len(self._partial) > MAX_LINE:
            raise MailProtocolError(_("The server sent an over-long line while idling."))
        news = False
        for line in lines:
            bye = BYE.match(line)
            if bye:
                raise MailConnectionError(
                    _("%(where)s ended the session: %(text)s", where=f"{self.host}:{self.port}",
                      text=bye.group(1).decode("utf-8", "replace") or "BYE"))
            news = news or bool(NEW_MAIL.match(line))
        return news

    def stop_idle(self) -> None:
        """DONE: back to normal commands (to IDLE again before the server's 30-minute limit)."""
        if not self._idling:
            return
        with self._wire():
            sock = self._client.socket()
            sock.settimeout(self.timeout)
            while self._partial:  # let the line in flight finish before imaplib reads on
                data = sock.recv(RECV_SIZE)
                if not data:
                    raise MailConnectionError(
                        _("%(where)s closed the connection.", where=f"{self.host}:{self.port}"))
                self._parse(data)
            self._client.idle_done()
        self._idling = False

    def close(self) -> None:
        """While idling, no LOGOUT (the server expects DONE first): just drop the connection."""
        if self._idling and self._client is not None:
            client, self._client = self._client, None
            self._idling = False
            with contextlib.suppress(Exception):
                client.shutdown()
            return
        super().close()
