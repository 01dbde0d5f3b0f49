"""Mail scanner > account > Authorize: the OAuth 2.0 authorization-code flow (PKCE S256,
`state`, login_hint), its callback, and removing an authorization."""

from __future__ import annotations

import hmac
import logging
import time

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _

from corpmail.admin import bp
from corpmail.admin.forms import PostForm
from corpmail.extensions import db
from corpmail.mail import crypto
from corpmail.models import ScannerAccount
from corpmail.oauth import client, tokens

log = logging.getLogger(__name__)

PENDING_KEY = "oauth_pending"
PENDING_MAX_AGE_S = 15 * 60  # an Authorize left unfinished longer than this is refused


def redirect_uri() -> str:
    """The callback to register with the provider (OAUTH_REDIRECT_URI when set)."""
    return current_app.config.get("OAUTH_REDIRECT_URI") or url_for(
        "admin.oauth_callback", _external=True)


@bp.route("/accounts/<int:account_id>/authorize", methods=["POST"])
def account_authorize(account_id: int):
    account = db.get_or_404(ScannerAccount, account_id)
    if not PostForm().validate_on_submit():
        abort(400)
    if not account.uses_oauth:
        flash(_("The mail server of %(name)s does not use OAuth 2.0.", name=account.name),
              "danger")
        return redirect(url_for("admin.account_edit", account_id=account.id))
    url, pending = client.start_authorization(account, redirect_uri())
    # The session cookie is signed, not secret: the PKCE verifier goes in encrypted.
    data = pending.to_dict()
    data["code_verifier"] = crypto.encrypt(pending.code_verifier)
    session[PENDING_KEY] = {**data, "started": int(time.time())}
    log.info("authorization of %s started", account.name)
    return redirect(url)


def _pending() -> client.PendingAuthorization | None:
    data = session.pop(PENDING_KEY, None)  # one callback per Authorize
    if not isinstance(data, dict) or time.time() - data.get("started", 0) > PENDING_MAX_AGE_S:
        return None
    try:
        data = {**data, "code_verifier": crypto.decrypt(data["code_verifier"])}
        return client.PendingAuthorization.from_dict(data)
    except (KeyError, TypeError, ValueError, crypto.SecretError):
        return None


@bp.route("/oauth/callback")
def oauth_callback():
    """Where the provider sends the admin back with a code (or an error) and the state."""
    pending = _pending()
    state = request.args.get("state", "")
    if pending is None or not hmac.compare_digest(state.encode(), pending.state.encode()):
        flash(_("Authorization refused: this answer does not belong to an authorization "
                "started here (state mismatch, already used, or too old). Click Authorize "
                "again."), "danger")
        return redirect(url_for("admin.accounts"))
    account = db.get_or_404(ScannerAccount, pending.account_id)
    back = redirect(url_for("admin.account_edit", account_id=account.id))
    if request.args.get("error"):
        flash(_("The provider did not grant access: %(error)s",
                error=" ".join(filter(None, (request.args.get("error"),
                                             request.args.get("error_description"))))),
              "danger")
        return back
    code = request.args.get("code", "")
    if not code:
        flash(_("The provider sent no authorization code."), "danger")
        return back
    try:
        token = client.exchange_code(account, pending, code)
    except client.ProviderError as exc:
        flash(_("The provider refused the authorization code: %(error)s", error=str(exc)),
              "danger")
        return back
    except client.ProviderUnreachable as exc:
        flash(_("The provider could not be reached: %(error)s", error=str(exc)), "danger")
        return back
    if not token.get("access_token"):
        flash(_("The provider's answer holds no access token."), "danger")
        return back
    was_locked = account.status == "Locked"
    tokens.authorized(account, token)
    db.session.commit()
    log.info("account %s authorized", account.name)
    flash(_("%(name)s is authorized.", name=account.name)
          + (" " + _("The account is unlocked.") if was_locked else ""), "success")
    return back


@bp.route("/accounts/<int:account_id>/deauthorize", methods=["POST"])
def account_deauthorize(account_id: int):
    """Forget the tokens, revoking them at the provider when it has an endpoint."""
    account = db.get_or_404(ScannerAccount, account_id)
    if not PostForm().validate_on_submit():
        abort(400)
    tokens.revoke_tokens(account)
    db.session.commit()
    flash(_("The authorization of %(name)s was removed.", name=account.name), "success")
    return redirect(url_for("admin.account_edit", account_id=account.id))
