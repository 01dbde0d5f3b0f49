"""Installation settings: defaults -> instance/corpmail.cfg -> CORPMAIL_* env -> test mapping."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

# Settings of the installation. Settings a person changes at run time (scan
# interval, limits, exceptions, ticket policy) live in the database instead.
DEFAULTS: dict[str, Any] = {
    "SQLALCHEMY_DATABASE_URI": None,  # None: SQLite file in the instance folder
    "SECRET_KEY": None,  # None: generated once into the instance folder (0600)
    "ENCRYPTION_KEY": None,  # Fernet key(s) for secrets at rest; None: generated like SECRET_KEY
    "ATTACHMENTS_DIR": None,  # None: <instance>/attachments
    "BABEL_DEFAULT_LOCALE": "en",
    "LANGUAGES": ["en", "pl"],
    "BOOTSTRAP_SERVE_LOCAL": True,  # Bootstrap served by the app itself, never a CDN
    "WTF_CSRF_TIME_LIMIT": None,  # tokens live as long as the session
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SAMESITE": "Lax",  # Flask-Login's "Remember me" cookie, like the session's
    "HTTPS": False,  # the site is served over HTTPS (a TLS proxy in front): cookies get Secure
    "PROXY_COUNT": 0,  # reverse proxies in front (nginx: 1): trust their X-Forwarded-For/-Proto
    # Rate limits (Flask-Limiter). memory:// counts per worker process, so with N gunicorn
    # workers a client gets up to N times a limit; redis://host:6379 shares the counts.
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_STRATEGY": "moving-window",
    "RATELIMIT_HEADERS_ENABLED": True,  # Retry-After on a 429
    "LOGIN_LIMIT_PER_ACCOUNT": "10 per 10 minutes",  # failed logins for one e-mail address
    "LOGIN_LIMIT_PER_IP": "30 per 10 minutes",  # failed logins from one client address
    "AUTOLOGIN_INTERNAL_LIMIT": "30 per minute",  # plugin calls with a bad secret or token, per IP
    "IMAP_TIMEOUT": 30.0,  # seconds for each read on IMAP and SMTP (and SMTP's connect)
    "IMAP_CONNECT_TIMEOUT": 10.0,  # seconds to reach an IMAP server and read its greeting
    # A scan rides out a broken or refused IMAP connection, or a database fault, by trying
    # again up to SCAN_RETRIES times in a row, waiting SCAN_BACKOFF s, doubled each time up
    # to SCAN_BACKOFF_MAX (with jitter, as push mode's PUSH_BACKOFF_*). Past that a
    # connection failure locks the account (SPEC 5); the verification job retries it later.
    "SCAN_RETRIES": 3,
    "SCAN_BACKOFF": 1.0,
    "SCAN_BACKOFF_MAX": 30.0,
    "SCAN_LEASE_SECONDS": 60,  # a run whose lease is not renewed for this long is stale
    "FETCH_BATCH_SIZE": 200,  # messages per BODY.PEEK[] fetch
    "FETCH_BATCH_BYTES": 32 * 1024 * 1024,  # and at most this many bytes (a bigger message alone)
    # Processes that parse a long run's messages while the scanner writes (0: parse in the
    # scanner itself; the default uses a second core when there is one).
    "PARSE_WORKERS": 1 if (os.cpu_count() or 1) > 1 else 0,
    "SCAN_IN_THREAD": True,  # admin "Run scanning manually" starts a background thread
    "WEBMAIL_URL": "/webmail/",  # Roundcube, on the same site as the CRM
    "AUTOLOGIN_SECRET": None,  # shared with the Roundcube plugin; None: generated like SECRET_KEY
    "AUTOLOGIN_TOKEN_SECONDS": 30,  # an autologin token's life; never more than 60
    "OAUTH_REFRESH_MARGIN_SECONDS": 60,  # OAuth2 mailboxes: renew an access token this early
    "OAUTH_REDIRECT_URI": None,  # None: <this site>/admin/oauth/callback as the request sees it
    # Push mode (IMAP IDLE) in `corpmail scanner`, for accounts in scan mode auto or push.
    "PUSH_ENABLED": True,  # False: every account is polled by the periodic scan only
    "PUSH_WORKERS": 4,  # threads that connect and run the scans push mode asks for
    "PUSH_REIDLE_SECONDS": 1500,  # re-issue IDLE this often (servers end one after 30 minutes)
    "PUSH_REFRESH_SECONDS": 5,  # how often the account list is re-read for changes
    "PUSH_BACKOFF_BASE_SECONDS": 1.0,  # first reconnection delay, doubled per failure (+jitter)
    "PUSH_BACKOFF_MAX_SECONDS": 300,  # longest reconnection delay
    "PUSH_MAX_FAILURES": 5,  # failures in a row before a folder falls back to polling
    "PUSH_FALLBACK_SECONDS": 900,  # polling lasts this long before IDLE is tried again
}

AUTOLOGIN_MAX_SECONDS = 60

ENV_PREFIX = "CORPMAIL_"
_ENV_ALIASES = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}


def _env_overrides() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in os.environ.items():
        if not key.startswith(ENV_PREFIX) or key == "CORPMAIL_INSTANCE_PATH":
            continue
        name = key[len(ENV_PREFIX):]
        out[_ENV_ALIASES.get(name, name)] = value
    return out


def _flag(value: Any) -> bool:
    """A boolean setting, also when it comes from the environment as text."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _instance_secret(instance: Path, filename: str, make) -> str:
    """Read a key from the instance folder, creating it (mode 0600) on first use."""
    path = instance / filename
    if path.exists():
        return path.read_text().strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def load_config(app, test_config: dict[str, Any] | None = None) -> None:
    """Fill app.config from the layers, then derive what is left unset."""
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile(str(instance / "corpmail.cfg"), silent=True)
    app.config.from_mapping(_env_overrides())
    if test_config:
        app.config.from_mapping(test_config)

    cfg = app.config
    if not cfg["SQLALCHEMY_DATABASE_URI"]:
        cfg["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'corpmail.db'}"
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql://"):
        cfg["SQLALCHEMY_DATABASE_URI"] = cfg["SQLALCHEMY_DATABASE_URI"].replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _instance_secret(instance, "secret_key", lambda: secrets.token_hex(32))
    # Keys read from the instance file are re-read when the file changes (`corpmail keys rotate`).
    cfg["ENCRYPTION_KEY_FILE"] = None if cfg["ENCRYPTION_KEY"] else str(instance / "encryption_key")
    if not cfg["ENCRYPTION_KEY"]:
        cfg["ENCRYPTION_KEY"] = _instance_secret(
            instance, "encryption_key", lambda: Fernet.generate_key().decode()
        )
    if not cfg["AUTOLOGIN_SECRET"]:
        cfg["AUTOLOGIN_SECRET"] = _instance_secret(
            instance, "autologin_secret", lambda: secrets.token_urlsafe(32)
        )
    cfg["AUTOLOGIN_TOKEN_SECONDS"] = max(
        1, min(int(cfg["AUTOLOGIN_TOKEN_SECONDS"]), AUTOLOGIN_MAX_SECONDS)
    )
    if not cfg["ATTACHMENTS_DIR"]:
        cfg["ATTACHMENTS_DIR"] = str(instance / "attachments")
    cfg["HTTPS"] = _flag(cfg["HTTPS"])
    cfg["PUSH_ENABLED"] = _flag(cfg["PUSH_ENABLED"])
    if cfg["HTTPS"]:
        cfg["SESSION_COOKIE_SECURE"] = cfg["REMEMBER_COOKIE_SECURE"] = True
        cfg["PREFERRED_URL_SCHEME"] = "https"
    for key in ("IMAP_TIMEOUT", "IMAP_CONNECT_TIMEOUT", "SCAN_BACKOFF", "SCAN_BACKOFF_MAX"):
        cfg[key] = float(cfg[key])
    for key in ("SCAN_LEASE_SECONDS", "FETCH_BATCH_SIZE", "PROXY_COUNT", "SCAN_RETRIES",
                "PARSE_WORKERS"):
        cfg[key] = int(cfg[key])
    engine_options = cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Scanner processes and web workers write concurrently: wait for locks.
        engine_options.setdefault("connect_args", {"timeout": 30})
    else:
        engine_options.setdefault("pool_pre_ping", True)
