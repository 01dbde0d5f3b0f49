"""A private Roundcube (Debian's package) behind php-fpm + nginx, generated into one folder.

Layout under ``base`` (nothing is written outside it, /etc is only read):

    roundcube/            INSTALL_PATH: symlinks to /usr/share/roundcube (program, SQL, index.php,
                          skins), our own config/ and plugins/ (Debian's plugins + corpmail's)
    roundcube/public_html the web root: a 3-line index.php + symlinks to the static files
    www/webmail           -> roundcube/public_html (nginx's root is www/)
    roundcube.db          Roundcube's SQLite database (created from Debian's schema once)
    des_key               Roundcube's per-install key (24 chars, generated once, mode 0600)
    php-fpm.conf, nginx.conf, site.conf, run/, log/, tmp/

The nginx site comes from ``nginx/site.conf.template`` in the repository; the Roundcube
settings from ``roundcube/config.inc.php``; the plugin from ``roundcube/plugins``. Used by
``scripts/run`` and by the e2e fixtures.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import string
import subprocess
import time
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[2]
RC_SHARE = Path("/usr/share/roundcube")
RC_DEFAULTS = Path("/etc/roundcube/defaults.inc.php")  # Debian's copy; read, never edited
RC_MIMETYPES = Path("/etc/roundcube/mimetypes.php")
PLUGIN = "corpmail_autologin"


class WebmailError(RuntimeError):
    """php-fpm or nginx did not start; the message carries the log tail."""


def php_fpm_binary() -> str:
    """The installed php-fpm (php-fpm8.2 on Debian 12), newest version first."""
    found = shutil.which("php-fpm") or ""
    if not found:
        candidates = sorted(glob.glob("/usr/sbin/php-fpm*"), reverse=True)
        found = candidates[0] if candidates else ""
    if not found:
        raise WebmailError("php-fpm is not installed (run scripts/install)")
    return found


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(found):
        raise WebmailError("nginx is not installed (run scripts/install)")
    return found


def _php_string(value: str) -> str:
    """A PHP single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _php_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_php_value(v) for v in value) + "]"
    if value is None:
        return "null"
    return _php_string(str(value))


def _symlink(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == str(target):
            return
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    link.symlink_to(target)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


class Webmail:
    """Roundcube + php-fpm + nginx for one stack.

    ``listen``: nginx's public address (host, port); ``app``: where ``/`` is proxied
    (host, port of gunicorn / a werkzeug server); ``imap_host``: the Roundcube login form's
    fallback host (``host:port``; autologin takes the host from the app, allow-listed).
    """

    def __init__(self, base: Path, *, listen: tuple[str, int], app: tuple[str, int],
                 imap_host: str = "127.0.0.1:143") -> None:
        self.base = Path(base).resolve()
        self.listen = listen
        self.app = app
        self.imap_host = imap_host
        self.rc = self.base / "roundcube"
        self.run_dir = self.base / "run"
        self.log_dir = self.base / "log"
        self.tmp_dir = self.base / "tmp"
        self.socket = self.run_dir / "php-fpm.sock"
        self.fpm: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """The public site, e.g. ``http://127.0.0.1:8080`` (no trailing slash)."""
        return f"http://{self.listen[0]}:{self.listen[1]}"

    @property
    def plugin_config_path(self) -> Path:
        return self.rc / "config" / f"{PLUGIN}.inc.php"

    # ---------------------------------------------------------------- generation
    def generate(self) -> Webmail:
        """(Re)write every file of the folder; the des_key and the database are kept."""
        if not RC_SHARE.is_dir():
            raise WebmailError("Roundcube is not installed (run scripts/install)")
        for folder in (self.rc / "config", self.rc / "plugins", self.rc / "public_html/program",
                       self.rc / "logs", self.rc / "temp", self.run_dir, self.log_dir,
                       self.tmp_dir, self.base / "www", self.base / "sessions"):
            folder.mkdir(parents=True, exist_ok=True)
        self._tree()
        self._database()
        self._roundcube_config()
        if not self.plugin_config_path.exists():
            self.write_plugin_config(app_url=f"http://{self.app[0]}:{self.app[1]}",
                                     secret="", allowed_hosts=[self.imap_host.split(":")[0]])
        self._fpm_config()
        self._nginx_config()
        return self

    def _tree(self) -> None:
        for name in ("program", "SQL", "index.php", "skins", "bin"):
            _symlink(self.rc / name, RC_SHARE / name)
        _symlink(self.rc / "config" / "defaults.inc.php", RC_DEFAULTS)
        if RC_MIMETYPES.exists():
            _symlink(self.rc / "config" / "mimetypes.php", RC_MIMETYPES)
        plugins = self.rc / "plugins"
        for plugin in sorted((RC_SHARE / "plugins").iterdir()):
            _symlink(plugins / plugin.name, plugin)
        _symlink(plugins / PLUGIN, REPO / "roundcube" / "plugins" / PLUGIN)
        public = self.rc / "public_html"
        # Debian's public_html/index.php derives INSTALL_PATH with realpath(), which would
        # resolve to /var/lib/roundcube: our entry point names our tree instead.
        (public / "index.php").write_text(
            "<?php\n// corpmail: Roundcube's entry point for this private tree (generated).\n"
            f"define('INSTALL_PATH', {_php_string(str(self.rc) + '/')});\n"
            "include INSTALL_PATH . 'index.php';\n")
        _symlink(public / "program" / "js", RC_SHARE / "program" / "js")
        _symlink(public / "program" / "resources", RC_SHARE / "program" / "resources")
        _symlink(public / "skins", self.rc / "skins")
        _symlink(public / "plugins", self.rc / "plugins")
        _symlink(self.base / "www" / "webmail", public)

    def _database(self) -> None:
        db = self.base / "roundcube.db"
        if db.exists():
            return
        schema = (RC_SHARE / "SQL" / "sqlite.initial.sql").read_text()
        partial = db.with_suffix(".db.new")
        partial.unlink(missing_ok=True)
        with sqlite3.connect(partial) as conn:
            conn.executescript(schema)
        conn.close()
        partial.rename(db)

    def des_key(self) -> str:
        """The installation's des_key: 24 characters, generated once, kept in the folder."""
        path = self.base / "des_key"
        if not path.exists():
            alphabet = string.ascii_letters + string.digits
            key = "".join(secrets.choice(alphabet) for _ in range(24))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(key)
        return path.read_text().strip()

    def _roundcube_config(self) -> None:
        per_install = {
            "db_dsnw": f"sqlite:///{self.base / 'roundcube.db'}?mode=0640",
            "des_key": self.des_key(),
            "log_dir": f"{self.log_dir}/",
            "temp_dir": f"{self.rc / 'temp'}/",
            "imap_host": self.imap_host,
            # Sessions in PHP's files (this folder's sessions/), not the SQLite database:
            # every request writes its session, and a SQLite commit waits for an fsync
            # (~15 ms here, far more under load). Production keeps them in PostgreSQL.
            "session_storage": "php",
        }
        lines = ["<?php", "// Generated by corpmail.devstack.webmail: per-install values, then",
                 "// corpmail's shared settings (roundcube/config.inc.php in the repository).",
                 "$config = [];"]
        lines += [f"$config[{_php_string(k)}] = {_php_value(v)};" for k, v in per_install.items()]
        lines.append(f"require {_php_string(str(REPO / 'roundcube' / 'config.inc.php'))};")
        (self.rc / "config" / "config.inc.php").write_text("\n".join(lines) + "\n")

    def write_plugin_config(self, *, app_url: str, secret: str,
                            allowed_hosts: list[str], **extra) -> None:
        """The plugin's settings (keys documented in its config.inc.php.dist), mode 0600.

        Roundcube loads ``config/corpmail_autologin.inc.php`` because the plugin folder
        (the repository's) has no config.inc.php of its own.
        """
        values = {"corpmail_app_url": app_url, "corpmail_secret": secret,
                  "corpmail_allowed_hosts": list(allowed_hosts)}
        values.update(extra)
        text = "<?php\n// Generated by corpmail.devstack.webmail (holds the shared secret).\n"
        text += "".join(f"$config[{_php_string(k)}] = {_php_value(v)};\n"
                        for k, v in values.items())
        path = self.plugin_config_path
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(path.with_suffix(".tmp"), path)

    def _fpm_config(self) -> None:
        root = os.geteuid() == 0
        (self.base / "php-fpm.conf").write_text(f"""\
; Generated by corpmail.devstack.webmail
[global]
pid = {self.run_dir / 'php-fpm.pid'}
error_log = {self.log_dir / 'php-fpm.log'}
daemonize = no

[corpmail]
{'user = root' if root else ''}
listen = {self.socket}
listen.mode = 0600
pm = static
pm.max_children = 4
catch_workers_output = yes
clear_env = yes
php_admin_value[error_log] = {self.log_dir / 'php-errors.log'}
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
php_admin_value[session.save_path] = {self.base / 'sessions'}
php_admin_value[session.gc_probability] = 1
php_admin_value[session.gc_divisor] = 100
php_admin_value[session.gc_maxlifetime] = 86400
php_admin_value[upload_tmp_dir] = {self.tmp_dir}
php_admin_value[sys_temp_dir] = {self.tmp_dir}
php_admin_value[upload_max_filesize] = 25M
php_admin_value[post_max_size] = 30M
php_admin_value[memory_limit] = 128M
php_admin_value[date.timezone] = UTC
""")

    def render_site(self) -> str:
        """nginx/site.conf.template with this stack's values filled in."""
        template = (REPO / "nginx" / "site.conf.template").read_text()
        values = {
            "CORPMAIL_LISTEN": f"{self.listen[0]}:{self.listen[1]}",
            "CORPMAIL_APP_UPSTREAM": f"{self.app[0]}:{self.app[1]}",
            "CORPMAIL_PHP_FPM": f"unix:{self.socket}",
            "CORPMAIL_WEBMAIL_ROOT": str(self.base / "www"),
            "CORPMAIL_WEBMAIL_INDEX": str(self.rc / "public_html" / "index.php"),
        }
        for key, value in values.items():
            template = template.replace("${" + key + "}", value)
        return template

    def _nginx_config(self) -> None:
        (self.base / "site.conf").write_text(self.render_site())
        temp = self.tmp_dir
        # As root, nginx's workers would run as nobody: they must reach php-fpm's socket and
        # this folder, like php-fpm's workers (root too, see _fpm_config).
        user = "user root;" if os.geteuid() == 0 else ""
        (self.base / "nginx.conf").write_text(f"""\
# Generated by corpmail.devstack.webmail: a private nginx, all state in this folder.
{user}
worker_processes 1;
pid {self.run_dir / 'nginx.pid'};
error_log {self.log_dir / 'nginx-error.log'} warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format timed '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                     'rt=$request_time urt=$upstream_response_time';
    access_log {self.log_dir / 'nginx-access.log'} timed;
    client_body_temp_path {temp / 'client_body'};
    proxy_temp_path {temp / 'proxy'};
    fastcgi_temp_path {temp / 'fastcgi'};
    uwsgi_temp_path {temp / 'uwsgi'};
    scgi_temp_path {temp / 'scgi'};
    sendfile on;
    keepalive_timeout 30;
    include {self.base / 'site.conf'};
}}
""")

    # ---------------------------------------------------------------- processes
    def start(self, timeout: float = 15.0) -> Webmail:
        """Start php-fpm, then nginx (foreground children); wait until both answer."""
        self.stop()
        self.socket.unlink(missing_ok=True)
        fpm_cmd = [php_fpm_binary(), "-F", "-y", str(self.base / "php-fpm.conf")]
        if os.geteuid() == 0:
            fpm_cmd.append("--allow-to-run-as-root")
        self.fpm = self._spawn("php-fpm", fpm_cmd)
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            self._check(self.fpm, "php-fpm", self.log_dir / "php-fpm.log")
            if time.monotonic() > deadline:
                self.stop()
                raise WebmailError("php-fpm did not start:\n" + _tail(self.log_dir / "php-fpm.log"))
            time.sleep(0.02)
        self.nginx = self._spawn("nginx", [nginx_binary(), "-c", str(self.base / "nginx.conf"),
                                           "-p", str(self.base), "-e",
                                           str(self.log_dir / "nginx-error.log"),
                                           "-g", "daemon off;"])
        while not self._listening():
            self._check(self.nginx, "nginx", self.log_dir / "nginx-error.log")
            if time.monotonic() > deadline:
                self.stop()
                raise WebmailError("nginx did not start:\n"
                                   + _tail(self.log_dir / "nginx-error.log"))
            time.sleep(0.02)
        self._warm_up()
        return self

    def _warm_up(self) -> None:
        """One request for the login page: php compiles Roundcube's core into its opcache
        now rather than during someone's first click (~100 ms)."""
        import urllib.request

        try:
            urllib.request.urlopen(self.base_url + "/webmail/", timeout=10).close()
        except OSError:
            pass  # a broken Roundcube shows up in its own log and in the first real request

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.out", "ab") as log:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=self.base)

    def _check(self, proc: subprocess.Popen, name: str, log: Path) -> None:
        if proc.poll() is not None:
            out = _tail(self.log_dir / f"{name}.out") + _tail(log)
            self.stop()
            raise WebmailError(f"{name} exited with {proc.returncode}:\n{out}")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(self.listen, timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop nginx, then php-fpm; never raises."""
        for attr in ("nginx", "fpm"):
            proc: subprocess.Popen | None = getattr(self, attr)
            if proc is None:
                continue
            if proc.poll() is None:
                try:
                    # nginx: SIGQUIT is a graceful stop; php-fpm: SIGQUIT too.
                    os.killpg(proc.pid, signal.SIGQUIT)
                    proc.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait(5)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        pass
            setattr(self, attr, None)

    def running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.fpm, self.nginx))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def plugin_settings(path: Path) -> dict:
    """For tests: the values in a generated plugin config (PHP parsed by PHP itself)."""
    out = subprocess.run(["php", "-r", (f"include {_php_string(str(path))}; "
                          "echo json_encode($config);")],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
