"""Role checks shared by the blueprints."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from corpmail.extensions import login_manager


def require_admin():
    """before_request hook: anonymous -> login page, plain user -> 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None
