"""An IMAP session over imapclient: connect, folders, UID fetch in batches, errors mapped."""

from __future__ import annotations

import ast
import contextlib
import functools
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from imapclient import SEEN, IMAPClient, SocketTimeout
from imapclient import exceptions as imap_exc

from corpmail.mail.bodyfetch import fetch_bodies, fetch_sizes
from corpmail.mail.errors import (
    MailAuthError,
    MailConnectionError,
    MailError,
    MailProtocolError,
)

log = logging.getLogger(__name__)

SECURITIES = ("none", "ssl", "starttls")
SIZE_WINDOW = 2000  # UIDs whose RFC822.SIZE one FETCH asks for, to cut byte-bounded batches
SPECIAL_USE_FLAGS = {  # RFC 6154 (+ Gmail's \\Important), keyed lower-case
    f.lower(): f
    for f in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash",
              "\\Important")
}


@dataclass(frozen=True)
class Folder:
    name: str  # as the server lists it, decoded from modified UTF-7
    delimiter: str
    flags: tuple[str, ...]
    special_use: str | None  # e.g. "\\Sent", from the LIST flags

    @property
    def selectable(self) -> bool:
        return not any(f.lower() in ("\\noselect", "\\nonexistent") for f in self.flags)


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int
    messages: int
    unseen: int  # -1 when unknown (SELECT reports no count)


@functools.lru_cache(maxsize=2)
def make_ssl_context(validate_cert: bool = True) -> ssl.SSLContext:
    """The system's trust store; with validation off, any certificate and name pass.

    Loading the trust store costs ~40 ms, more than a whole idle check of a mailbox, so
    one context per setting is built once and shared (contexts are not changed after)."""
    context = ssl.create_default_context()
    if not validate_cert:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_text(exc: BaseException) -> str:
    """The server's own words from an imapclient/imaplib error ("b'[AUTH...] ...'" -> text)."""
    text = str(exc).strip()
    for prefix in ("login failed: ", "LOGIN command error: "):
        text = text.removeprefix(prefix)
    if text[:2] in ("b'", 'b"'):
        try:
            text = ast.literal_eval(text).decode("utf-8", "replace")
        except (ValueError, SyntaxError):
            pass
    return text.strip() or exc.__class__.__name__


def connection_error_text(exc: BaseException, host: str, port: int, timeout: float) -> str:
    """A sentence a person can act on, for socket / TLS failures."""
    where = f"{host}:{port}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return _("No answer from %(where)s within %(s)s s (timed out).", where=where, s=timeout)
    if isinstance(exc, ConnectionRefusedError):
        return _("Connection refused by %(where)s: nothing listens on that port.", where=where)
    if isinstance(exc, socket.gaierror):
        return _("Host name %(host)s not found (%(err)s).", host=host, err=exc.strerror or exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _("The certificate of %(where)s is not trusted: %(err)s.", where=where,
                 err=exc.verify_message or exc.reason or exc)
    if isinstance(exc, ssl.SSLError):
        return _("TLS failed with %(where)s: %(err)s (check the security setting and port).",
                 where=where, err=exc.reason or exc)
    if isinstance(exc, imap_exc.IMAPClientAbortError):
        return _("The connection to %(where)s broke: %(err)s.", where=where, err=server_text(exc))
    return _("Cannot talk to %(where)s: %(err)s.", where=where,
             err=getattr(exc, "strerror", None) or exc)


class ImapSession:
    """One IMAP connection. A context manager; every library or socket error surfaces
    as a MailError subclass (connection, authentication, protocol)."""

    def __init__(self, client: IMAPClient, host: str, port: int, timeout: float) -> None:
        self._client = client
        self.host = host
        self.port = port
        self.timeout = timeout
        self.selected: str | None = None
        self._readonly = True
        self.user: str | None = None
        self.broken = False  # the connection broke or timed out: close without LOGOUT

    # ------------------------------------------------------------ connecting
    @classmethod
    def connect(cls, host: str, port: int, security: str, validate_cert: bool = True,
                timeout: float = 30.0, connect_timeout: float | None = None) -> ImapSession:
        """Open a connection (none | ssl | starttls). `connect_timeout` (default: `timeout`)
        bounds reaching the server and its greeting, `timeout` each later read."""
        if security not in SECURITIES:
            raise MailProtocolError(_("Unknown security setting %(s)s.", s=security))
        context = make_ssl_context(validate_cert) if security != "none" else None
        connect_timeout = connect_timeout or timeout
        try:
            client = IMAPClient(host, port, ssl=security == "ssl",  # imapclient defaults to TLS
                                ssl_context=context,
                                timeout=SocketTimeout(connect=connect_timeout, read=timeout))
        except Exception as exc:
            raise _map(exc, host, port, connect_timeout) from exc
        session = cls(client, host, port, timeout)
        if security == "starttls":
            try:
                with session._wire():
                    if b"STARTTLS" not in client.capabilities():
                        raise MailProtocolError(
                            _("%(where)s does not offer STARTTLS.", where=f"{host}:{port}"))
                    client.starttls(context)
            except MailError:
                session.close()
                raise
        log.debug("IMAP connected to %s:%s (%s)", host, port, security)
        return session

    @classmethod
    def for_account(cls, account, timeout: float | None = None) -> ImapSession:
        """Connect with the account's server settings and log in with its credentials.
        Without `timeout`, the configured IMAP_CONNECT_TIMEOUT and IMAP_TIMEOUT apply."""
        server = account.server
        connect_timeout = timeout
        if timeout is None:
            timeout, connect_timeout = _config_timeout(), _config_timeout("IMAP_CONNECT_TIMEOUT")
        token = None
        if server.auth_method == "oauth2":  # before connecting: no grant needs no server
            from corpmail.oauth.tokens import access_token

            token = access_token(account)
        session = cls.connect(server.imap_host, server.imap_port, server.imap_security,
                              server.imap_validate_cert, timeout, connect_timeout)
        try:
            if token is not None:
                try:
                    session.oauth_login(account.login, token)
                except MailAuthError:  # revoked before its expiry: renew once, or learn why not
                    session.oauth_login(account.login, access_token(account, renew=True))
            else:
                session.login(account.login, account.password or "")
        except BaseException:
            session.close()
            raise
        return session

    def login(self, user: str, password: str) -> None:
        """LOGIN; a refusal raises MailAuthError carrying the server's own text.

        Non-ASCII credentials go through AUTHENTICATE PLAIN (UTF-8), which LOGIN's
        quoted strings cannot carry.
        """
        if self._client is None:
            raise MailConnectionError(_("The IMAP session is closed."))
        method = self._client.login if (user + password).isascii() else self._client.plain_login
        self._authenticate(user, method, password)

    def oauth_login(self, user: str, access_token: str) -> None:
        """AUTHENTICATE with a bearer token: XOAUTH2, or OAUTHBEARER when that is all the
        server offers; a refusal raises MailAuthError carrying the server's own text."""
        if oauth_mechanism(self.capabilities) == "OAUTHBEARER":
            self._authenticate(user, self._client.oauthbearer_login, access_token)
        else:
            self._authenticate(user, self._client.oauth2_login, access_token)

    def _authenticate(self, user: str, method, secret: str) -> None:
        """Run one login method; a refusal becomes MailAuthError with the server's text."""
        try:
            method(user, secret)
        except imap_exc.LoginError as exc:
            raise MailAuthError(_("Login refused: %(text)s", text=server_text(exc))) from exc
        except Exception as exc:
            raise self._mapped(exc) from exc
        self.user = user

    # ------------------------------------------------------------ properties
    @property
    def capabilities(self) -> tuple[str, ...]:
        """Upper-case capability names (after login: the post-login list)."""
        with self._wire():
            return tuple(c.decode("ascii", "replace").upper()
                         for c in self._client.capabilities())

    @property
    def tls_version(self) -> str | None:
        if self._client is None:
            return None
        sock = self._client.socket()
        return sock.version() if isinstance(sock, ssl.SSLSocket) else None

    # ------------------------------------------------------------ folders
    def list_folders(self) -> list[Folder]:
        with self._wire():
            rows = self._client.list_folders()
        out = []
        for flags, delimiter, name in rows:
            flags_s = tuple(_s(f) for f in flags)
            special = next((SPECIAL_USE_FLAGS[f.lower()] for f in flags_s
                            if f.lower() in SPECIAL_USE_FLAGS), None)
            out.append(Folder(name=_s(name), delimiter=_s(delimiter) if delimiter else "",
                              flags=flags_s, special_use=special))
        return out

    def folder_state(self, name: str) -> FolderState:
        """STATUS, without selecting: the cheap idle check."""
        with self._wire():
            st = self._client.folder_status(
                name, [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN"])
        return FolderState(
            uidvalidity=int(st.get(b"UIDVALIDITY", 0)), uidnext=int(st.get(b"UIDNEXT", 0)),
            messages=int(st.get(b"MESSAGES", 0)), unseen=int(st.get(b"UNSEEN", -1)),
        )

    def select(self, name: str, readonly: bool = True) -> FolderState:
        """SELECT (or EXAMINE when readonly) a folder for uids_above / fetch_raw."""
        with self._wire():
            st = self._client.select_folder(name, readonly=readonly)
        self.selected, self._readonly = name, readonly
        return FolderState(
            uidvalidity=int(st.get(b"UIDVALIDITY", 0)), uidnext=int(st.get(b"UIDNEXT", 0)),
            messages=int(st.get(b"EXISTS", 0)), unseen=-1,
        )

    def folder_exists(self, name: str) -> bool:
        with self._wire():
            return bool(self._client.folder_exists(name))

    def create_folder(self, name: str) -> None:
        with self._wire():
            self._client.create_folder(name)

    def delete_folder(self, name: str) -> None:
        with self._wire():
            if self.selected == name:
                self._client.unselect_folder()
                self.selected = None
            self._client.delete_folder(name)

    # ------------------------------------------------------------ messages
    def uids_above(self, watermark: int) -> list[int]:
        """UIDs greater than the watermark in the selected folder, sorted."""
        self._require_selected()
        with self._wire():
            # `UID n:*` always matches the highest UID, even when n is past it: filter.
            found = self._client.search(["UID", f"{int(watermark) + 1}:*"])
        return sorted(uid for uid in found if uid > watermark)

    def fetch_raw(self, uids: list[int], batch_size: int = 200,
                  batch_bytes: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Yield (uid, raw bytes) in UID order, one BODY.PEEK[] batch in memory at a time.

        A batch holds at most `batch_size` messages and, when `batch_bytes` is given, at most
        that many bytes by RFC822.SIZE (a bigger message comes alone), so memory stays
        bounded whatever the messages weigh. BODY.PEEK never sets \\Seen. UIDs that
        vanished meanwhile are skipped.
        """
        self._require_selected()
        ordered = sorted({int(u) for u in uids})
        for chunk in self._batches(ordered, max(1, int(batch_size)), batch_bytes):
            with self._wire():
                answer = fetch_bodies(self._client._imap, chunk)
            for uid in chunk:
                if uid not in answer:
                    log.debug("UID %s gone from %s before fetch", uid, self.selected)
                    continue
                raw = answer.pop(uid)
                if raw is None:
                    log.warning("UID %s in %s came back without a body", uid, self.selected)
                    continue
                yield uid, raw
                del raw
            del answer

    def _batches(self, ordered: list[int], batch_size: int,
                 batch_bytes: int | None) -> Iterator[list[int]]:
        if not batch_bytes:
            for start in range(0, len(ordered), batch_size):
                yield ordered[start:start + batch_size]
            return
        for start in range(0, len(ordered), SIZE_WINDOW):
            window = ordered[start:start + SIZE_WINDOW]
            with self._wire():
                sizes = fetch_sizes(self._client._imap, window)
            chunk: list[int] = []
            total = 0
            for uid in window:
                size = sizes.get(uid, 0)
                if chunk and (len(chunk) >= batch_size or total + size > batch_bytes):
                    yield chunk
                    chunk, total = [], 0
                chunk.append(uid)
                total += size
            if chunk:
                yield chunk

    def mark_seen(self, uids: list[int]) -> None:
        """Set \\Seen (only called when the account asks for it, after commit)."""
        self._require_selected()
        if not uids:
            return
        with self._wire():
            if self._readonly:  # EXAMINE refuses STORE; reopen the folder read-write
                self._client.select_folder(self.selected, readonly=False)
                self._readonly = False
            self._client.add_flags(list(uids), [SEEN], silent=True)

    def append(self, folder: str, raw: bytes, flags=(), msg_time: datetime | None = None
               ) -> int | None:
        """APPEND one message; returns its UID when the server reports it (UIDPLUS)."""
        with self._wire():
            answer = self._client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        text = _s(answer)
        if "APPENDUID" in text:
            with contextlib.suppress(IndexError, ValueError):
                return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])
        return None

    def noop(self) -> None:
        with self._wire():
            self._client.noop()

    def close(self) -> None:
        """LOGOUT and close; never raises (the connection may already be gone)."""
        client, self._client = self._client, None
        if client is None:
            return
        if self.broken:  # a LOGOUT would only wait for the timeout once more
            with contextlib.suppress(Exception):
                client.shutdown()
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001
            with contextlib.suppress(Exception):
                client.shutdown()

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ helpers
    def _require_selected(self) -> None:
        if self.selected is None:
            raise MailProtocolError(_("No folder is selected."))

    @contextlib.contextmanager
    def _wire(self) -> Iterator[None]:
        if self._client is None:
            raise MailConnectionError(_("The IMAP session is closed."))
        try:
            yield
        except MailError:
            raise
        except Exception as exc:
            raise self._mapped(exc) from exc

    def _mapped(self, exc: BaseException) -> MailError:
        error = _map(exc, self.host, self.port, self.timeout)
        if isinstance(error, MailConnectionError):
            self.broken = True
        return error


def oauth_mechanism(capabilities) -> str:
    """XOAUTH2 where offered (Gmail, Outlook), else OAUTHBEARER (RFC 7628) when it is the
    server's only bearer mechanism; XOAUTH2 when the server lists neither."""
    offered = {c.upper() for c in capabilities}
    if "AUTH=XOAUTH2" not in offered and "AUTH=OAUTHBEARER" in offered:
        return "OAUTHBEARER"
    return "XOAUTH2"


def _map(exc: BaseException, host: str, port: int, timeout: float) -> MailError:
    """Library and socket errors -> our three kinds."""
    if isinstance(exc, MailError):
        return exc
    if isinstance(exc, imap_exc.LoginError):
        return MailAuthError(_("Login refused: %(text)s", text=server_text(exc)))
    if isinstance(exc, (OSError, imap_exc.IMAPClientAbortError, EOFError)):
        return MailConnectionError(connection_error_text(exc, host, port, timeout))
    if isinstance(exc, imap_exc.CapabilityError):
        return MailProtocolError(_("The server lacks a needed capability: %(e)s",
                                   e=server_text(exc)))
    if isinstance(exc, imap_exc.IMAPClientError):
        return MailProtocolError(_("The server answered: %(text)s", text=server_text(exc)))
    return MailProtocolError(_("Unexpected answer from %(where)s: %(e)s",
                               where=f"{host}:{port}", e=exc))


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _config_timeout(key: str = "IMAP_TIMEOUT") -> float:
    """A timeout from the app's config (corpmail/config.py), 30 s without an app."""
    try:
        from flask import current_app

        return float(current_app.config.get(key) or 30.0)
    except RuntimeError:  # no app context (scripts, benches)
        return 30.0
