"""`scripts/run`: the local product with demo data -- Dovecot, SMTP relay, web app, scanner,
Roundcube behind php-fpm + nginx.

Everything lives under var/ (instance folder var/instance, Dovecot in var/devstack,
Roundcube + php-fpm + nginx in var/webmail, logs in var/log). Running it again reuses that
state: the seed only adds what is missing. Ctrl-C stops every process it started.
Public site (nginx): http://127.0.0.1:8080 (/ the CRM, /webmail/ Roundcube); the app's
gunicorn listens on 127.0.0.1:8081 (the plugin's internal endpoints live there only).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from corpmail.devstack.dovecot import Dovecot
from corpmail.devstack.smtp_relay import SmtpRelay
from corpmail.devstack.webmail import Webmail

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo"
DOMAIN = "demo.corpmail.test"
HOST = "127.0.0.1"
# Fixed ports: the mail server row in the database (and Roundcube later) point at them.
PORTS = {"imap": 10143, "lmtp": 10024, "submission": 10587, "smtp": 10025}

# CRM users: (email, password, admin, name, language)
USERS = [
    (f"admin@{DOMAIN}", "admin", True, "Demo Admin", "en"),
    (f"anna@{DOMAIN}", "anna", False, "Anna Kowalska", "en"),
    (f"piotr@{DOMAIN}", "piotr", False, "Piotr Zieliński", "pl"),
]
# Scanner mailboxes: (account name, login, password, folders, actions, owner, granted to)
ALL = "create-email,bind-email,open-ticket,create-ticket"
MAILBOXES = [
    ("Sales", f"sales@{DOMAIN}", "sales", ["INBOX=Received", "Sent=Sent"], ALL,
     f"anna@{DOMAIN}", [f"anna@{DOMAIN}", f"admin@{DOMAIN}"]),
    ("Support", f"support@{DOMAIN}", "support", ["INBOX=Received", "Sent=Sent"], ALL,
     f"piotr@{DOMAIN}", [f"piotr@{DOMAIN}", f"admin@{DOMAIN}"]),
] + [
    (name.split()[0], email, password, ["INBOX=Received", "Sent=Sent"],
     "create-email,bind-email", email, [email])
    for email, password, _admin, name, _lang in USERS
]


def say(text: str) -> None:
    print(f"run: {text}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


class Stack:
    """The processes of one run; stop() ends each of them, newest first."""

    def __init__(self, var: Path, web_port: int, app_port: int) -> None:
        self.var = var
        self.web_port = web_port  # nginx, the public site
        self.app_port = app_port  # gunicorn, reached by nginx and by the Roundcube plugin
        # PROXY_COUNT: nginx is in front of gunicorn (client addresses for the rate limits).
        self.env = dict(os.environ, CORPMAIL_INSTANCE_PATH=str(var / "instance"),
                        CORPMAIL_PROXY_COUNT="1", PYTHONUNBUFFERED="1")
        self.logs = var / "log"
        self.dovecot: Dovecot | None = None
        self.relay: SmtpRelay | None = None
        self.webmail: Webmail | None = None
        self.children: list[tuple[str, subprocess.Popen]] = []

    # ---------------------------------------------------------------- helpers
    def corpmail(self, *args: str, check: bool = True) -> None:
        """One `corpmail` CLI command, in this process (saves ~1 s of imports each); its
        one-line error stops the run."""
        import contextlib
        import io

        import click

        from corpmail.cli import cli

        os.environ["CORPMAIL_INSTANCE_PATH"] = self.env["CORPMAIL_INSTANCE_PATH"]
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                cli.main(args=list(args), prog_name="corpmail", standalone_mode=False)
        except click.ClickException as exc:
            error = exc.format_message()
        except SystemExit as exc:
            if exc.code in (0, None):
                return
            error = out.getvalue().strip()
        else:
            return
        message = f"`corpmail {' '.join(args[:2])}` failed: {error}"
        if check:
            raise SystemExit(f"run: {message}")
        say(message)

    def spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        log.close()
        self.children.append((name, proc))

    # ---------------------------------------------------------------- steps
    def start_mail(self) -> None:
        for what, port in PORTS.items():
            if not port_free(port):
                raise SystemExit(f"run: port {port} ({what}) is in use: is another "
                                 "scripts/run still running?")
        self.dovecot = Dovecot(
            self.var / "devstack" / "dovecot", host=HOST, imap_port=PORTS["imap"],
            lmtp_port=PORTS["lmtp"], submission_port=PORTS["submission"],
            submission_relay=(HOST, PORTS["smtp"]), fsync=True, domain=DOMAIN,
        )
        for _name, login, password, *_ in MAILBOXES:
            self.dovecot.add_user(login, password)  # before start: no reload wait
        self.dovecot.start()
        self.relay = SmtpRelay(HOST, PORTS["lmtp"], HOST, PORTS["smtp"]).start()
        say(f"Dovecot IMAP {HOST}:{PORTS['imap']}, submission {PORTS['submission']}, "
            f"SMTP relay {PORTS['smtp']} -> LMTP {PORTS['lmtp']}")

    def seed(self) -> None:
        admin = USERS[0]
        self.corpmail("init", "--admin-email", admin[0], "--admin-password", admin[1])
        for email, password, is_admin, name, lang in USERS[1:]:
            self.corpmail("user", "add", email, "--password", password, "--name", name,
                          "--lang", lang, *(["--admin"] if is_admin else []), "--if-missing")
        # SMTP = Dovecot's submission (AUTH with the mailbox's own login, as Roundcube
        # sends), which relays to the SMTP relay -> LMTP.
        self.corpmail("server", "add", "Demo Dovecot", "--imap", f"{HOST}:{PORTS['imap']}",
                      "--imap-security", "none", "--smtp", f"{HOST}:{PORTS['submission']}",
                      "--smtp-security", "none", "--if-missing")
        self._demo_server_uses_submission()
        for name, login, password, folders, actions, owner, granted in MAILBOXES:
            folder_args = [arg for folder in folders for arg in ("--folder", folder)]
            self.corpmail("account", "add", name, "--server", "Demo Dovecot", "--login", login,
                          "--password", password, *folder_args, "--actions", actions,
                          "--owner", owner, "--if-missing")
            self.corpmail("grant", name, *granted)
        for kind in ("accounts", "contacts", "leads"):
            self.corpmail("import", kind, str(DEMO / f"{kind}.csv"), "--skip-existing")
        say("demo users, mail server, mailboxes and CRM records in place")

    def _demo_server_uses_submission(self) -> None:
        """A var/ seeded before Roundcube had the relay as SMTP (no AUTH): move it."""
        from sqlalchemy import update

        from corpmail.app import create_app
        from corpmail.extensions import db
        from corpmail.models import MailServer

        app = create_app(instance_path=self.env["CORPMAIL_INSTANCE_PATH"])
        with app.app_context():
            db.session.execute(update(MailServer)
                               .where(MailServer.name == "Demo Dovecot",
                                      MailServer.smtp_port == PORTS["smtp"])
                               .values(smtp_port=PORTS["submission"]))
            db.session.commit()
            db.engine.dispose()

    def demo_mail(self) -> None:
        """A little mail, once: only into mailboxes whose INBOX is still empty."""
        assert self.dovecot is not None and self.relay is not None
        added = 0
        for (login, folder), messages in demo_messages().items():
            password = {m[1]: m[2] for m in MAILBOXES}[login]
            client = self.dovecot.client(login, password)
            try:
                empty = client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"] == 0
                for raw in messages if empty else []:
                    client.append(folder, raw)
                    added += 1
            finally:
                client.logout()
        if added:  # and one through the SMTP relay, as a real sender would
            import smtplib

            with smtplib.SMTP(HOST, PORTS["smtp"], timeout=10) as smtp:
                smtp.send_message(order_confirmation())
            added += 1
        say(f"demo mail: {added} message(s) added" if added else "demo mail already there")

    def start_services(self) -> None:
        for port in (self.web_port, self.app_port):
            if not port_free(port):
                raise SystemExit(f"run: port {port} is in use")
        self.corpmail("scan", check=False)  # a first pass now: the pages show mail at once
        self.spawn("web", [sys.executable, "-m", "gunicorn", "--workers", "2",
                           "--bind", f"{HOST}:{self.app_port}", "--access-logfile", "-",
                           "corpmail.app:create_app()"])
        self.spawn("scanner", [sys.executable, "-c", "from corpmail.cli import cli; cli()",
                               "scanner"])
        deadline = time.monotonic() + 30
        while not self._web_answers():
            self.check_children()
            if time.monotonic() > deadline:
                raise SystemExit(f"run: the web app did not answer; see {self.logs}/web.log")
            time.sleep(0.2)

    def start_webmail(self) -> None:
        """Roundcube + php-fpm + nginx in var/webmail; the plugin gets the app's secret."""
        self.webmail = Webmail(self.var / "webmail", listen=(HOST, self.web_port),
                               app=(HOST, self.app_port),
                               imap_host=f"{HOST}:{PORTS['imap']}").generate()
        self.webmail.write_plugin_config(app_url=f"http://{HOST}:{self.app_port}",
                                         secret=self.autologin_secret(), allowed_hosts=[HOST])
        self.webmail.start()
        say(f"Roundcube at http://{HOST}:{self.web_port}/webmail/ (php-fpm + nginx; logs in "
            f"{self.webmail.log_dir})")

    def autologin_secret(self) -> str:
        """The app's AUTOLOGIN_SECRET: the environment's, or the instance folder's file
        (written by `corpmail init`, like the other instance secrets)."""
        if os.environ.get("CORPMAIL_AUTOLOGIN_SECRET"):
            return os.environ["CORPMAIL_AUTOLOGIN_SECRET"]
        path = self.var / "instance" / "autologin_secret"
        if not path.exists():
            from corpmail.app import create_app

            create_app(instance_path=str(self.var / "instance"))  # creates it
        return path.read_text().strip()

    def _web_answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.app_port), timeout=1):
                return True
        except OSError:
            return False

    def check_children(self) -> None:
        if self.webmail is not None and not self.webmail.running():
            raise SystemExit(f"run: php-fpm or nginx exited; see {self.webmail.log_dir}")
        for name, proc in self.children:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"run: {name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(self.children):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)
        self.children.clear()
        if self.webmail:
            self.webmail.stop()
            self.webmail = None
        if self.relay:
            self.relay.stop()
            self.relay = None
        if self.dovecot:
            self.dovecot.stop()
            self.dovecot = None


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        return exc_type is not None and issubclass(exc_type, ProcessLookupError)


def _message(sender: str, to: str, subject: str, body: str, *, days_ago: float,
             html: str | None = None, headers: dict[str, str] | None = None,
             attachment: tuple[str, str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC) - timedelta(days=days_ago))
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    if attachment:
        filename, ctype, data = attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def demo_messages() -> dict[tuple[str, str], list[bytes]]:
    sales, support = f"sales@{DOMAIN}", f"support@{DOMAIN}"
    return {
        (support, "INBOX"): [
            _message("John Carter <john.carter@acme-logistics.test>", support,
                     "Delivery tracking not updating",
                     "Hello,\n\nthe tracking page for shipment 88123 has not changed for two "
                     "days. Could you check?\n\nJohn Carter\nAcme Logistics", days_ago=2),
            _message("Out of office <erik@nordicfoods.test>", support,
                     "Automatic reply: Delivery tracking",
                     "I am out of the office until Monday.", days_ago=1.5,
                     headers={"Auto-Submitted": "auto-replied"}),
            _message("Chris Unknown <chris@unknown-startup.test>", support,
                     "Question about your API", "Hi, do you offer an API for bulk orders?",
                     days_ago=1),
        ],
        (sales, "INBOX"): [
            _message("Małgorzata Wiśniewska <m.wisniewska@baltyk-meble.test>", sales,
                     "Zapytanie ofertowe: 40 krzeseł konferencyjnych",
                     "Dzień dobry,\n\nprosimy o ofertę na 40 krzeseł konferencyjnych z "
                     "dostawą do Gdańska.\n\nZ poważaniem,\nMałgorzata Wiśniewska",
                     days_ago=3,
                     attachment=("specyfikacja.txt", "text/plain",
                                 "Krzesło: tapicerowane, szare, 40 szt.\n".encode())),
            _message("Sarah Green <sarah@greenenergy.test>", sales, "Pricing for 50 seats",
                     "Hi, could you send pricing for 50 seats? Thanks, Sarah",
                     html="<p>Hi, could you send <b>pricing for 50 seats</b>?</p>"
                          "<p><img src='https://tracker.example.test/pixel.png' alt=''></p>"
                          "<p>Thanks, Sarah</p>", days_ago=0.5),
        ],
        (sales, "Sent"): [
            _message(f"Demo Sales <{sales}>", "Erik Lindqvist <erik@nordicfoods.test>",
                     "Your quote Q-2024-17", "Hello Erik,\n\nplease find our quote below.\n",
                     days_ago=4),
        ],
    }


def order_confirmation() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Erik Lindqvist <erik@nordicfoods.test>"
    msg["To"] = f"sales@{DOMAIN}"
    msg["Subject"] = "Order 5521: confirmation"
    msg["Message-ID"] = make_msgid(domain="nordicfoods.test")
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg.set_content("Hello,\n\nwe confirm order 5521 as quoted.\n\nErik")
    return msg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run corpmail locally with demo data.")
    parser.add_argument("--port", type=int, default=8080,
                        help="public web port: nginx, the CRM and /webmail/ (default 8080)")
    parser.add_argument("--app-port", type=int, default=8081,
                        help="the app's own port (gunicorn; default 8081)")
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="state folder")
    parser.add_argument("--no-serve", action="store_true",
                        help="set up and seed, then stop (for checks and screenshots)")
    args = parser.parse_args(argv)
    var = args.var.resolve()
    for sub in ("instance", "devstack", "log"):
        (var / sub).mkdir(parents=True, exist_ok=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    stack = Stack(var, args.port, args.app_port)
    try:
        stack.start_mail()
        stack.seed()
        stack.demo_mail()
        if args.no_serve:
            return 0
        stack.start_services()
        stack.start_webmail()
        mail = ", ".join(f"{login} / {pw}" for _n, login, pw, *_ in MAILBOXES)
        print(f"""
corpmail is running: http://{HOST}:{args.port}/
  webmail:     http://{HOST}:{args.port}/webmail/  (open a mailbox from the CRM's top bar)
  CRM logins:  {', '.join(f'{u[0]} / {u[1]}' for u in USERS)}
  mailboxes (IMAP {HOST}:{PORTS['imap']}, plain):  {mail}
  instance:    {var / 'instance'}   logs: {var / 'log'}
Press Ctrl-C to stop.
""", flush=True)
        while not stop.wait(1):
            stack.check_children()
        say("stopping")
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
