"""CRM blueprint: accounts, contacts, leads, tickets and e-mails."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("crm", __name__)


@bp.before_request
@login_required
def _require_login():
    return None


from corpmail.crm import views  # noqa: E402,F401
