"""Admin blueprint: Mail tools (servers, scanner, configuration) and Logs. Admins only."""

from flask import Blueprint

from corpmail.web.auth import require_admin

bp = Blueprint("admin", __name__)
# Every route of this blueprint is admin-only; the check is here, not per view.
bp.before_request(require_admin)

from corpmail.admin import views  # noqa: F401
