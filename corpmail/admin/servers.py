"""Mail tools > Mail servers: list, add, edit, delete, Test connection."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from corpmail.admin import bp
from corpmail.admin.forms import ConnectionTestForm, MailServerForm, PostForm
from corpmail.admin.oauth import redirect_uri
from corpmail.extensions import db
from corpmail.mail.errors import MailAuthError, MailError
from corpmail.models import MailServer, ScannerAccount

log = logging.getLogger(__name__)


def _oauth_token(server_id: int | None, login: str) -> str:
    """The access token of the authorized scanner account with this login on this server,
    for Test connection on an OAuth 2.0 server (renewed when needed)."""
    from corpmail.oauth.tokens import access_token

    account = db.session.scalar(select(ScannerAccount).where(
        ScannerAccount.server_id == server_id, func.lower(ScannerAccount.login) == login.lower()))
    if account is None or not account.oauth_authorized:
        raise MailAuthError(_("No authorized scanner account with the login %(login)s uses this "
                              "server: add one and click Authorize on its page first.",
                              login=login))
    return access_token(account)


def run_connection_test(server: MailServer, login: str | None, password: str | None,
                        server_id: int | None = None) -> dict:
    """Call the diagnostics; an unexpected failure becomes a result, never a 500. On an
    OAuth 2.0 server a login without a password logs in with that mailbox's token."""
    from corpmail.mail.diagnostics import test_connection

    try:
        token = None
        if server.auth_method == "oauth2" and login and not password:
            try:
                token = _oauth_token(server_id, login)
            except MailError as exc:
                return {"imap": {"ok": False, "error": str(exc)},
                        "smtp": {"ok": False, "error": str(exc)}}
        return test_connection(server, login or None, password or None, access_token=token)
    except Exception as exc:  # diagnostics maps wire errors itself; this is the last guard
        log.exception("connection test failed unexpectedly for server %s", server.name)
        error = f"{type(exc).__name__}: {exc}"
        return {"imap": {"ok": False, "error": error}, "smtp": {"ok": False, "error": error}}


def _name_taken(name: str, exclude_id: int | None) -> bool:
    query = select(MailServer.id).where(func.lower(MailServer.name) == name.lower())
    if exclude_id is not None:
        query = query.where(MailServer.id != exclude_id)
    return db.session.scalar(query) is not None


@bp.route("/servers")
def servers():
    rows = db.session.scalars(select(MailServer).order_by(MailServer.name)).all()
    counts = dict(
        db.session.execute(
            select(ScannerAccount.server_id, func.count(ScannerAccount.id)).group_by(
                ScannerAccount.server_id
            )
        ).all()
    )
    return render_template(
        "admin/servers.html",
        servers=rows,
        counts=counts,
        post_form=PostForm(),
    )


def _edit(server: MailServer | None):
    form = MailServerForm(obj=server)
    if server is not None and not form.is_submitted():
        form.test_login.data = ""
    result = None
    if form.validate_on_submit():
        if form.test.data:
            # Test with the values on the form, on a throw-away object never added to the session.
            probe = MailServer()
            form.apply_to(probe)
            result = run_connection_test(probe, form.test_login.data, form.test_password.data,
                                         server.id if server else None)
        elif _name_taken(form.name.data, server.id if server else None):
            form.name.errors.append(_("A mail server with this name already exists."))
        elif (form.auth_method.data == "oauth2" and not form.oauth_secret.data
              and not (server and server.oauth_client_secret_encrypted)):
            form.oauth_secret.errors.append(_("A client secret is required for OAuth 2.0."))
        else:
            is_new = server is None
            if is_new:
                server = MailServer()
                db.session.add(server)
            form.apply_to(server)
            db.session.commit()
            flash(
                _("Mail server %(name)s added.", name=server.name)
                if is_new
                else _("Mail server %(name)s saved.", name=server.name),
                "success",
            )
            return redirect(url_for("admin.servers"))
    elif form.is_submitted():
        flash(_("Please correct the marked fields."), "danger")
    return render_template("admin/server_form.html", form=form, server=server, result=result,
                           oauth_redirect_uri=redirect_uri())


@bp.route("/servers/new", methods=["GET", "POST"])
def server_new():
    return _edit(None)


@bp.route("/servers/<int:server_id>/edit", methods=["GET", "POST"])
def server_edit(server_id: int):
    return _edit(db.get_or_404(MailServer, server_id))


@bp.route("/servers/<int:server_id>/delete", methods=["POST"])
def server_delete(server_id: int):
    server = db.get_or_404(MailServer, server_id)
    if not PostForm().validate_on_submit():
        abort(400)
    users = db.session.scalars(
        select(ScannerAccount.name)
        .where(ScannerAccount.server_id == server.id)
        .order_by(ScannerAccount.name)
    ).all()
    if users:
        flash(
            _(
                "Mail server %(name)s cannot be deleted: it is used by the scanner accounts %(accounts)s."
                " Move or delete those accounts first.",
                name=server.name,
                accounts=", ".join(users),
            ),
            "danger",
        )
        return redirect(url_for("admin.servers"))
    name = server.name
    db.session.delete(server)
    db.session.commit()
    flash(_("Mail server %(name)s deleted.", name=name), "success")
    return redirect(url_for("admin.servers"))


@bp.route("/servers/<int:server_id>/test", methods=["GET", "POST"])
def server_test(server_id: int):
    server = db.get_or_404(MailServer, server_id)
    form = ConnectionTestForm()
    result = None
    if form.validate_on_submit():
        result = run_connection_test(server, form.login.data, form.password.data, server.id)
    return render_template("admin/server_test.html", server=server, form=form, result=result)
