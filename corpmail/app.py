"""Application factory: config -> extensions -> blueprints -> cli. No work at import time."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from corpmail.config import load_config
from corpmail.extensions import babel, bootstrap, csrf, db, limiter, login_manager, migrate


def create_app(test_config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app. instance_path (or CORPMAIL_INSTANCE_PATH) names the installation folder."""
    instance_path = instance_path or os.environ.get("CORPMAIL_INSTANCE_PATH") or None
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
    )
    load_config(app, test_config)
    configure_proxy(app)
    configure_extensions(app)
    configure_blueprints(app)
    configure_cli(app)
    return app


def select_locale() -> str:
    if not has_request_context():  # CLI commands and the scanner: no request, no user
        return current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
    if current_user and getattr(current_user, "is_authenticated", False):
        return current_user.language
    return request.accept_languages.best_match(["en", "pl"]) or "en"


def configure_proxy(app: Flask) -> None:
    """Behind nginx the client's address and scheme come from the proxy's X-Forwarded-*
    headers (rate limits per IP, Secure cookies); trusted only for PROXY_COUNT hops."""
    hops = app.config["PROXY_COUNT"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def configure_extensions(app: Flask) -> None:
    from corpmail import models  # noqa: F401  (register the tables)
    from corpmail.web.sessions import CookieSessionInterface, user_for_session_id

    app.session_interface = CookieSessionInterface()
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    bootstrap.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message_category = "warning"
    login_manager.user_loader(user_for_session_id)
    limiter.init_app(app)


def configure_blueprints(app: Flask) -> None:
    from corpmail.admin import bp as admin_bp
    from corpmail.autologin import bp as autologin_bp
    from corpmail.crm import bp as crm_bp
    from corpmail.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(crm_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    # /mail/* for the browser; /internal/autologin/* for the Roundcube plugin only
    # (CSRF-exempt there: it proves itself with the shared secret, not a form token).
    app.register_blueprint(autologin_bp)

    from corpmail.web.filters import register_template_helpers

    register_template_helpers(app)

    from corpmail.web.errors import register_error_handlers

    register_error_handlers(app)


def configure_cli(app: Flask) -> None:
    from corpmail.cli import register_commands

    register_commands(app)
