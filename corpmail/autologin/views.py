"""Open a mailbox in Roundcube, the refusal page, unread counts, My mail, the plugin's endpoints."""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from corpmail.autologin import bp
from corpmail.autologin.credentials import fresh_token
from corpmail.autologin.tokens import check_session, issue_token, redeem_token, secret_ok
from corpmail.autologin.unread import user_mailboxes
from corpmail.extensions import csrf, db, limiter
from corpmail.models import AutologinGrant, MailConfiguration, ScannerAccount

SECRET_HEADER = "X-Corpmail-Secret"
LOGIN_ACTION = "?_task=login&_action=corpmail-autologin"
REFUSALS = {
    "replayed": _l("This mailbox link was already used. Links to a mailbox work only once: "
                   "open the mailbox again from the CRM."),
    "expired": _l("This mailbox link has expired. Open the mailbox again from the CRM."),
    "invalid": _l("This mailbox link is not valid. Open the mailbox from the CRM's top bar "
                  "or from My mail."),
    "wrong_user": _l("This mailbox link was made for another CRM user, or you are not logged "
                     "in to the CRM. Log in as yourself and open the mailbox from there."),
    "revoked": _l("You no longer have access to this mailbox. Ask an administrator if you "
                  "need it."),
    "inactive": _l("This mailbox is not active at the moment (the CRM cannot log in to it). "
                   "Ask an administrator to check it in Mail scanner."),
    "ended": _l("Your mail session has ended: you logged out of the CRM, or your access to "
                "the mailbox changed. Open the mailbox again from the CRM."),
    # Said by the plugin itself: the app did not answer, or refused the plugin's secret.
    "unavailable": _l("Webmail cannot reach the CRM right now. Try again in a moment."),
    "forbidden": _l("Webmail is not set up to talk to the CRM (its shared secret is wrong). "
                    "Ask an administrator."),
    "login_failed": _l("The mail server refused the mailbox's login. Ask an administrator to "
                       "check the mailbox in Mail scanner."),
    "no_grant": _l("You have no access to this mailbox. Ask an administrator to grant it "
                   "in Mail autologin."),
    "rate_limited": _l("Webmail made too many refused attempts in a short time. Wait a minute "
                       "and open the mailbox again from the CRM."),
}
UNKNOWN_REFUSAL = _l("The mailbox could not be opened. Open it again from the CRM.")


def open_url(account_id: int, to: str | None = None, subject: str | None = None) -> str:
    """The CRM link that opens a mailbox in Roundcube, or its compose form when to/subject given."""
    if to is None and subject is None:
        return url_for("autologin.open_mailbox", account_id=account_id)
    return url_for("autologin.open_mailbox", account_id=account_id, compose=1,
                   to=to or "", subject=subject or "")


def _refused(reason: str, status: int = 403):
    message = REFUSALS.get(reason, UNKNOWN_REFUSAL)
    return render_template("autologin/refused.html", reason=reason, message=message), status


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.route("/mail/open/<int:account_id>")
@login_required
def open_mailbox(account_id: int):
    """Issue a token and hand it to Roundcube in a self-submitting POST form (never in a URL)."""
    granted = db.session.scalar(select(AutologinGrant.id).where(
        AutologinGrant.user_id == current_user.id, AutologinGrant.account_id == account_id))
    if granted is None:
        return _refused("no_grant")
    account = db.session.get(ScannerAccount, account_id)
    if account.status != "Active":
        return _refused("inactive")
    compose = None
    if request.args.get("compose") == "1":
        compose = {"to": request.args.get("to", "")[:1000],
                   "subject": request.args.get("subject", "")[:500]}
    token = issue_token(current_user.id, account.id, compose)
    action = current_app.config["WEBMAIL_URL"] + LOGIN_ACTION
    page = render_template("autologin/open.html", token=token, action=action, account=account)
    return _no_store(current_app.make_response(page))


@bp.route("/mail/refused")
def refused():
    """Where the plugin sends the browser when a token or a session is refused."""
    return _refused(request.args.get("reason", ""))


def _icon_settings() -> MailConfiguration:
    return MailConfiguration.get()


@bp.route("/mail/unread.json")
@login_required
def unread():
    """The top bar's counts: asked from the server at most every mail_icon_refresh_s seconds."""
    config = _icon_settings()
    boxes = user_mailboxes(current_user.id, config.mail_icon_refresh_s,
                           with_counts=config.mail_icon_unread, refresh=True)
    db.session.commit()
    return jsonify(
        refresh_s=config.mail_icon_refresh_s,
        show_unread=config.mail_icon_unread,
        mailboxes=[{"id": b.id, "name": b.name, "unread": b.unread,
                    "url": open_url(b.id)} for b in boxes],
    )


@bp.route("/my-mail")
@login_required
def my_mail():
    config = _icon_settings()
    boxes = user_mailboxes(current_user.id, config.mail_icon_refresh_s,
                           with_counts=config.mail_icon_unread, refresh=False)
    accounts = {a.id: a for a in db.session.scalars(
        select(ScannerAccount).where(ScannerAccount.id.in_([b.id for b in boxes])))}
    db.session.commit()
    return render_template("autologin/my_mail.html", boxes=boxes, accounts=accounts,
                           show_unread=config.mail_icon_unread)


@bp.app_context_processor
def topbar_context():
    """topbar_mailboxes(): what base.html's top bar shows (cached counts only, no IMAP)."""

    def topbar_mailboxes() -> dict | None:
        if not current_user.is_authenticated:
            return None
        config = _icon_settings()
        if not config.mail_icon_show:
            return None
        boxes = user_mailboxes(current_user.id, config.mail_icon_refresh_s,
                               with_counts=config.mail_icon_unread, refresh=False)
        return {"boxes": boxes, "show_unread": config.mail_icon_unread,
                "refresh_s": config.mail_icon_refresh_s}

    return {"topbar_mailboxes": topbar_mailboxes, "mailbox_open_url": open_url}


# --------------------------------------------------------------- the plugin's side
def _internal(handler, field: str):
    """Secret first (missing or wrong: 403), then handler(form[field], CRM cookie) as JSON."""
    if not secret_ok(request.headers.get(SECRET_HEADER)):
        return jsonify(ok=False, reason="forbidden"), 403
    outcome = handler(request.form.get(field), request.form.get("crm_session"))
    if not outcome.ok:
        status = {"invalid": 400, "replayed": 409, "expired": 410}.get(outcome.reason, 403)
        return jsonify(ok=False, reason=outcome.reason), status
    response = jsonify(ok=True, **outcome.data)
    response.headers["Cache-Control"] = "no-store"
    return response


def _guessing(response) -> bool:
    """What counts against the limit: a missing or wrong secret, a forged token. Honest
    refusals (a replayed or expired link, an ended session) do not."""
    answer = response.get_json(silent=True) or {}
    return answer.get("reason") in ("forbidden", "invalid")


def _rate_limited(_limit):
    response = jsonify(ok=False, reason="rate_limited")
    response.status_code = 429
    return response


# One budget per client address for both endpoints: they check the same secret.
internal_limit = limiter.shared_limit(
    lambda: current_app.config["AUTOLOGIN_INTERNAL_LIMIT"], scope="autologin-internal",
    deduct_when=_guessing, on_breach=_rate_limited)


@bp.route("/internal/autologin/redeem", methods=["POST"])
@csrf.exempt
@internal_limit
def internal_redeem():
    """Server to server (the Roundcube plugin): a token and the CRM cookie -> the credentials."""
    return _internal(redeem_token, "token")


@bp.route("/internal/autologin/token", methods=["POST"])
@csrf.exempt
@internal_limit
def internal_token():
    """Server to server: a valid OAuth 2.0 access token for a live session's mailbox."""
    return _internal(fresh_token, "session_ref")


@bp.route("/internal/autologin/check", methods=["POST"])
@csrf.exempt
@internal_limit
def internal_check():
    """Server to server: is this Roundcube session still allowed?"""
    return _internal(check_session, "session_ref")
