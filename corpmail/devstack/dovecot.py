"""A private Dovecot 2.3 run as a child process from a config generated into one folder.

Everything it writes (config, sockets, state, logs, Maildirs, the users file) lives
under ``base``; it listens on 127.0.0.1 high ports and never reads /etc/dovecot.
Used by the test fixtures and by ``scripts/run``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

# Dovecot 2.3's capability list after login, minus nothing; pass `without_capabilities`
# to drop some (a later issue needs a server without IDLE).
DEFAULT_CAPABILITIES = ["IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=REFS", "THREAD=ORDEREDSUBJECT", "MULTIAPPEND", "URL-PARTIAL", "CATENATE", "UNSELECT", "CHILDREN", "NAMESPACE", "UIDPLUS", "LIST-EXTENDED", "I18NLEVEL=1", "CONDSTORE", "QRESYNC", "ESEARCH", "ESORT", "SEARCHRES", "WITHIN", "CONTEXT=SEARCH", "LIST-STATUS", "BINARY", "MOVE", "SNIPPET=FUZZY", "PREVIEW=FUZZY", "PREVIEW", "STATUS=SIZE", "SAVEDATE", "LITERAL+", "NOTIFY", "SPECIAL-USE"]

SPECIAL_USE = {"Sent": r"\Sent", "Drafts": r"\Drafts", "Trash": r"\Trash", "Junk": r"\Junk"}
NOBODY = 65534

_counter = itertools.count(1)


class DovecotError(RuntimeError):
    """Dovecot did not start or stop as asked; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _dovecot_binary() -> str:
    found = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(found):
        raise DovecotError("dovecot is not installed (run scripts/install)")
    return found


def _self_signed(cert: Path, key: Path, host: str) -> None:
    """A throwaway certificate so the ssl / starttls code paths can be tested."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corpmail devstack")])
    now = _dt.datetime.now(_dt.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]
            ),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)


class Dovecot:
    """One private Dovecot instance. Ports are chosen once and kept across restarts.

    ``submission_relay`` ``(host, port)`` enables Dovecot's submission service relaying
    to that SMTP server (which must not advertise AUTH). ``tls=True`` adds a self-signed
    certificate: STARTTLS on the IMAP port and an implicit-TLS ``imaps_port``.
    ``oauth2_introspection_url`` adds an ``oauth2`` passdb for XOAUTH2 and OAUTHBEARER
    (IMAP and submission) that validates bearer tokens at that RFC 7662 endpoint
    (``introspection_mode = post``; client credentials may go in the URL as
    ``http://id:secret@host/path``); passwords keep working for the same users.
    """

    def __init__(
        self,
        base: str | os.PathLike,
        host: str = "127.0.0.1",
        imap_port: int | None = None,
        lmtp_port: int | None = None,
        submission_relay: tuple[str, int] | None = None,
        submission_port: int | None = None,
        imap_capability: str | None = None,
        without_capabilities: tuple[str, ...] = (),
        tls: bool = False,
        fsync: bool = False,
        domain: str = "mail.corpmail.test",
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.base = Path(base).resolve()
        self.host = host
        self.imap_port = imap_port or free_port(host)
        self.lmtp_port = lmtp_port or free_port(host)
        self.submission_relay = submission_relay
        self.submission_port = (submission_port or free_port(host)) if submission_relay else None
        self.tls = tls
        self.imaps_port = free_port(host) if tls else None
        if without_capabilities and not imap_capability:
            drop = {c.upper() for c in without_capabilities}
            imap_capability = " ".join(c for c in DEFAULT_CAPABILITIES if c not in drop)
        self.imap_capability = imap_capability
        self.fsync = fsync
        self.domain = domain
        self.oauth2_introspection_url = oauth2_introspection_url
        # One passwd-file per user: Dovecot re-reads a passwd-file at most once a second,
        # so a user added right after another login would not be seen in a shared file.
        self.users_dir = self.base / "passwd.d"
        self.config_file = self.base / "dovecot.conf"
        self.log_file = self.base / "log" / "dovecot.log"
        self.mail_root = self.base / "mail"
        self.process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        if os.geteuid() == 0:
            self.mail_uid = self.mail_gid = NOBODY  # Dovecot refuses uid 0 for mail
            self._internal_user, self._login_user = "dovecot", "dovenull"
        else:  # unprivileged: everything runs as the calling user
            self.mail_uid, self.mail_gid = os.geteuid(), os.getegid()
            me = pwd.getpwuid(self.mail_uid).pw_name
            self._internal_user = self._login_user = me

    # ------------------------------------------------------------------ config
    def _config(self) -> str:
        base = self.base
        protocols = "imap lmtp" + (" submission" if self.submission_relay else "")
        lines = [
            "# Generated by corpmail.devstack.dovecot: a private instance, never /etc/dovecot.",
            f"instance_name = corpmail-{hashlib.sha1(str(base).encode()).hexdigest()[:10]}",
            f"base_dir = {base}/run",
            f"state_dir = {base}/state",
            f"log_path = {self.log_file}",
            f"protocols = {protocols}",
            f"listen = {self.host}",
            "hostname = localhost",
            f"default_internal_user = {self._internal_user}",
            f"default_login_user = {self._login_user}",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login"
            + (" xoauth2 oauthbearer" if self.oauth2_introspection_url else ""),
            # No failed-login penalty: tests log in with wrong passwords on purpose. (Dovecot
            # still flushes failures on a 0.5 s timer: a wrong password costs up to 0.5 s.)
            "auth_failure_delay = 0",
            "auth_cache_size = 0",
            "mail_location = maildir:~/Maildir",
            f"mail_uid = {self.mail_uid}",
            f"mail_gid = {self.mail_gid}",
            "first_valid_uid = 1",
            "first_valid_gid = 1",
            f"mail_fsync = {'optimized' if self.fsync else 'never'}",
            "mail_max_userip_connections = 500",
            # IDLE (push mode): inotify tells an idling process of new mail at once, and
            # Dovecot waits 500 ms for more changes (hard-coded), so EXISTS comes ~0.5 s
            # after delivery. Each idling process holds an inotify instance; past the
            # kernel's limit per uid (fs.inotify.max_user_instances, 128 here, shared by
            # every Dovecot running as the mail uid) it only re-checks at this interval
            # (default 30 s).
            "mailbox_idle_check_interval = 1 secs",
            "login_greeting = corpmail devstack ready.",
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%Lu {self.users_dir}/%Lu",
            # "none": the lookups without a login (LMTP delivery) still find the users here.
            *(["  mechanisms = plain login none"] if self.oauth2_introspection_url else []),
            "}",
            *self._oauth2_passdb(),
            "userdb {",
            "  driver = static",
            f"  args = uid={self.mail_uid} gid={self.mail_gid} home={self.mail_root}/%Lu",
            "}",
            "namespace inbox {",
            "  inbox = yes",
            "  separator = /",
        ]
        for name, use in SPECIAL_USE.items():
            lines += [f"  mailbox {name} {{", f"    special_use = {use}",
                      "    auto = subscribe", "  }"]
        lines += [
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            f"    address = {self.host}",
            f"    port = {self.imap_port}",
            "  }",
            "  inet_listener imaps {",
            f"    address = {self.host}",
            f"    port = {self.imaps_port or 0}",
            "  }",
            "}",
            "service imap {",  # one process per connection: room for 100s of IDLE mailboxes
            "  process_limit = 1024",
            "}",
            "service lmtp {",
            "  inet_listener lmtp {",
            f"    address = {self.host}",
            f"    port = {self.lmtp_port}",
            "  }",
            "}",
            "service anvil {",
            # The auth penalty delays even a correct login after a few wrong ones.
            "  unix_listener anvil-auth-penalty {",
            "    mode = 0",
            "  }",
            "}",
            "protocol lmtp {",
            f"  postmaster_address = postmaster@{self.domain}",
            "}",
        ]
        if self.imap_capability:
            lines += ["protocol imap {", f"  imap_capability = {self.imap_capability}", "}"]
        if self.submission_relay:
            relay_host, relay_port = self.submission_relay
            lines += [
                "service submission-login {",
                "  inet_listener submission {",
                f"    address = {self.host}",
                f"    port = {self.submission_port}",
                "  }",
                "}",
                f"submission_relay_host = {relay_host}",
                f"submission_relay_port = {relay_port}",
                "submission_relay_trusted = yes",
            ]
        if self.tls:
            lines += [
                "ssl = yes",
                f"ssl_cert = <{base}/tls/cert.pem",
                f"ssl_key = <{base}/tls/key.pem",
            ]
        else:
            lines.append("ssl = no")
        return "\n".join(lines) + "\n"

    def _oauth2_passdb(self) -> list[str]:
        if not self.oauth2_introspection_url:
            return []
        return ["passdb {", "  driver = oauth2", "  mechanisms = xoauth2 oauthbearer",
                f"  args = {self.base}/dovecot-oauth2.conf.ext", "}"]

    def _oauth2_config(self) -> str:
        """Tokens checked at the introspection endpoint on every login (no cache), the
        token's ``username`` must be the login, and ``active`` must be true."""
        return "\n".join([
            "introspection_mode = post",
            f"introspection_url = {self.oauth2_introspection_url}",
            "force_introspection = yes",
            "username_attribute = username",
            "active_attribute = active",
            "active_value = true",
        ]) + "\n"

    def _prepare(self) -> None:
        base = self.base
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)  # the mail uid must traverse it
        self._stop_orphan()
        shutil.rmtree(base / "run", ignore_errors=True)  # a stale socket delays startup 5 s
        for sub in ("run", "state", "log", "mail"):
            (base / sub).mkdir(exist_ok=True)
        os.chown(self.mail_root, self.mail_uid, self.mail_gid)
        self.users_dir.mkdir(exist_ok=True)
        self._protect(self.users_dir, 0o700)
        if self.tls and not (base / "tls" / "cert.pem").exists():
            (base / "tls").mkdir(exist_ok=True)
            _self_signed(base / "tls" / "cert.pem", base / "tls" / "key.pem", self.host)
        if self.oauth2_introspection_url:  # holds the introspection client's secret
            oauth2_conf = base / "dovecot-oauth2.conf.ext"
            oauth2_conf.write_text(self._oauth2_config())
            self._protect(oauth2_conf)
        self.config_file.write_text(self._config())

    def _stop_orphan(self) -> None:
        """A Dovecot left running on this folder by a killed parent: stop it first."""
        try:
            pid = int((self.base / "run" / "master.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return
        if str(self.config_file).encode() not in cmdline:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    # --------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 20.0) -> Dovecot:
        """Start Dovecot in the foreground as our child; return once IMAP and LMTP greet."""
        if self.running:
            return self
        self._prepare()
        out = open(self.base / "log" / "stdout.log", "ab")
        self.process = subprocess.Popen(
            [_dovecot_binary(), "-F", "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, we stop it cleanly
        )
        out.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until the IMAP and LMTP listeners answer with their greeting."""
        deadline = time.monotonic() + timeout
        for port, greeting in ((self.imap_port, b"* OK"), (self.lmtp_port, b"220")):
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise DovecotError(f"dovecot exited with {self.process.returncode}: "
                                       f"{self.log_tail()}")
                try:
                    with socket.create_connection((self.host, port), timeout=2) as sock:
                        if sock.recv(200).startswith(greeting):
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise DovecotError(f"dovecot did not answer on port {port}: {self.log_tail()}")
                time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM Dovecot and its children and wait (1-3 s); SIGKILL if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:  # the whole group: imap processes too, so open connections are cut
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        chunks = []
        for path in (self.log_file, self.base / "log" / "stdout.log"):
            if path.exists():
                chunks += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(chunks[-lines:]) or "(no log)"

    # ------------------------------------------------------------------- users
    def _protect(self, path: Path, mode: int = 0o600) -> None:
        """Plain-text test passwords: readable by Dovecot's auth process only (and us)."""
        path.chmod(mode)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self._internal_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def users(self) -> dict[str, str]:
        """{login: password} of every mailbox."""
        out = {}
        if self.users_dir.exists():
            for path in sorted(self.users_dir.iterdir()):
                login, _, rest = path.read_text().partition(":")
                if login and not path.name.endswith(".tmp"):
                    out[login] = rest.split(":", 1)[0].removeprefix("{PLAIN}")
        return out

    def add_user(self, login: str | None = None, password: str | None = None) -> tuple[str, str]:
        """Add (or re-password) a mailbox; Dovecot reads it on the next login.

        Without a login a new unique one is made, so every caller gets an empty mailbox.
        Logins are lower-cased (Dovecot looks them up lower-cased).
        """
        if login is None:
            login = f"box{next(_counter)}-{secrets.token_hex(4)}@{self.domain}"
        login = login.lower()
        if password is None:
            password = secrets.token_urlsafe(12)
        if not login or any(c in login for c in ":/\n\r\0 ") or any(c in password for c in ":\n\r\0"):
            raise ValueError("devstack logins may not hold ':', '/', spaces or newlines; "
                             "passwords no ':' or newlines")
        self.users_dir.mkdir(parents=True, exist_ok=True)
        path = self.users_dir / login
        old_mtime = path.stat().st_mtime if path.exists() else None
        with self._lock:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(f"{login}:{{PLAIN}}{password}::::::\n")
            self._protect(tmp)
            if old_mtime is not None:  # Dovecot compares whole-second mtimes (and sizes)
                stamp = max(time.time(), old_mtime + 1)
                os.utime(tmp, (stamp, stamp))
            os.replace(tmp, path)  # atomic: auth never reads half a file
        if old_mtime is not None and self.running:
            time.sleep(1.05)  # a file already read this second is not re-read before the next
        return login, password

    # -------------------------------------------------------------------- mail
    def client(self, login: str, password: str):
        """A logged-in imapclient connection (plain IMAP); the caller logs out."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=30)
        client.login(login, password)
        return client

    def append(self, login: str, password: str, folder: str, raw: bytes,
               flags: tuple = (), msg_time=None) -> int | None:
        """APPEND one message; returns its UID (UIDPLUS) when the server says it."""
        return self.append_many(login, password, folder, [raw], flags, msg_time)[0]

    def append_many(self, login: str, password: str, folder: str, raws: list[bytes],
                    flags: tuple = (), msg_time=None) -> list[int | None]:
        """APPEND several messages over one connection, creating the folder if needed."""
        client = self.client(login, password)
        try:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            uids = []
            for raw in raws:
                answer = client.append(folder, raw, flags=flags, msg_time=msg_time)
                uids.append(_appenduid(answer))
            return uids
        finally:
            client.logout()


def _appenduid(answer) -> int | None:
    """UID from an APPEND answer like b'[APPENDUID 1700000 7] Append completed.'."""
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
    if "APPENDUID" in text:
        try:
            return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])
        except (IndexError, ValueError):
            return None
    return None
