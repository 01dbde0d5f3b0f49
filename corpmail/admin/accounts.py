"""Mail tools > Mail scanner: scanner accounts, their folders (read live) and verification."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from corpmail.admin import bp
from corpmail.admin.forms import FOLDER_ROLE_LABELS, PostForm, ScannerAccountForm
from corpmail.extensions import db
from corpmail.mail.errors import MailError
from corpmail.models import MailServer, MessageFailure, ScannerAccount, ScannerFolder, ScanRun, User
from corpmail.models.emails import EmailSeen
from corpmail.models.mailboxes import FOLDER_ROLES
from corpmail.oauth.tokens import revoke_tokens

log = logging.getLogger(__name__)


def action_registry() -> dict:
    from corpmail.scanner.registry import ACTIONS

    return ACTIONS


@bp.route("/accounts")
def accounts():
    rows = db.session.scalars(select(ScannerAccount).order_by(ScannerAccount.name)).all()
    return render_template(
        "admin/accounts.html", accounts=rows, registry=action_registry(), post_form=PostForm()
    )


def _fill_choices(form: ScannerAccountForm, account: ScannerAccount | None) -> None:
    servers = db.session.scalars(select(MailServer).order_by(MailServer.name)).all()
    form.server_id.choices = [
        (s.id, s.name + ("" if s.active else " " + _("(inactive)"))) for s in servers
    ]
    users = db.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.email)
    ).all()
    form.owner_id.choices = [(u.id, f"{u.label} <{u.email}>" if u.name else u.email) for u in users]
    statuses = [("Active", _("Active")), ("Inactive", _("Inactive"))]
    if account is not None and account.status == "Locked":
        statuses.append(("Locked", _("Locked")))  # set by the scanner; the admin may move it back
    form.status.choices = statuses


def _edit(account: ScannerAccount | None):
    form = ScannerAccountForm(obj=account)
    _fill_choices(form, account)
    registry = action_registry()
    if request.method == "GET" and account is None:
        form.actions.data = list(registry)
        from flask_login import current_user

        form.owner_id.data = current_user.id
    if form.validate_on_submit():
        ok = True
        from corpmail.scanner.registry import validate_actions

        action_errors = validate_actions(form.actions.data)
        if action_errors:
            form.actions.errors = list(action_errors)
            ok = False
        name_query = select(ScannerAccount.id).where(
            func.lower(ScannerAccount.name) == form.name.data.lower()
        )
        if account is not None:
            name_query = name_query.where(ScannerAccount.id != account.id)
        if db.session.scalar(name_query) is not None:
            form.name.errors.append(_("A scanner account with this name already exists."))
            ok = False
        server = db.session.get(MailServer, form.server_id.data)
        needs_password = account is None or not account.password_encrypted
        if (
            needs_password
            and not form.password.data
            and server is not None
            and server.auth_method == "basic"
        ):
            form.password.errors.append(_("A password is required for this mail server."))
            ok = False
        if ok:
            is_new = account is None
            if is_new:
                account = ScannerAccount()
                db.session.add(account)
            account.name = form.name.data
            account.server_id = form.server_id.data
            account.login = form.login.data
            if form.password.data:
                account.password = form.password.data
            if form.status.data != account.status:
                if account.status == "Locked":
                    account.locked_at = None
                account.status = form.status.data
            account.scan_mode = form.scan_mode.data
            account.actions = list(form.actions.data)
            account.search_fields = list(form.search_fields.data)
            account.email_exceptions = form.email_exceptions.data or ""
            account.domain_exceptions = form.domain_exceptions.data or ""
            account.owner_id = form.owner_id.data
            db.session.commit()
            if is_new and account.uses_oauth and not account.oauth_authorized:
                # Folders can only be listed once the mailbox lets corpmail in.
                flash(_("Scanner account %(name)s added. Now click Authorize, then choose "
                        "the folders to scan.", name=account.name), "success")
                return redirect(url_for("admin.account_edit", account_id=account.id))
            if is_new:
                flash(
                    _(
                        "Scanner account %(name)s added. Now choose the folders to scan.",
                        name=account.name,
                    ),
                    "success",
                )
                return redirect(url_for("admin.account_folders", account_id=account.id))
            flash(_("Scanner account %(name)s saved.", name=account.name), "success")
            return redirect(url_for("admin.accounts"))
    if form.is_submitted():
        flash(_("Please correct the marked fields."), "danger")
    return render_template(
        "admin/account_form.html",
        form=form,
        account=account,
        registry=registry,
        post_form=PostForm(),
    )


@bp.route("/accounts/new", methods=["GET", "POST"])
def account_new():
    return _edit(None)


@bp.route("/accounts/<int:account_id>/edit", methods=["GET", "POST"])
def account_edit(account_id: int):
    return _edit(db.get_or_404(ScannerAccount, account_id))


@bp.route("/accounts/<int:account_id>/delete", methods=["POST"])
def account_delete(account_id: int):
    account = db.get_or_404(ScannerAccount, account_id)
    if not PostForm().validate_on_submit():
        abort(400)
    running = db.session.scalar(
        select(ScanRun.id).where(ScanRun.account_id == account.id, ScanRun.status == "In progress")
    )
    if running:
        flash(
            _(
                "Scanner account %(name)s is being scanned now; stop the scan first.",
                name=account.name,
            ),
            "danger",
        )
        return redirect(url_for("admin.accounts"))
    name = account.name
    revoke_tokens(account)  # an OAuth grant must not outlive the mailbox
    # Explicit, so SQLite without enforced foreign keys behaves like PostgreSQL.
    db.session.execute(delete(EmailSeen).where(EmailSeen.account_id == account.id))
    db.session.execute(delete(MessageFailure).where(MessageFailure.account_id == account.id))
    db.session.execute(
        update(ScanRun).where(ScanRun.account_id == account.id).values(account_id=None)
    )
    db.session.delete(account)
    db.session.commit()
    flash(_("Scanner account %(name)s deleted. Its e-mails stay in the CRM.", name=name), "success")
    return redirect(url_for("admin.accounts"))


@dataclass
class FolderRow:
    """One line of the folder tree: a server folder, or a stored one gone from the server."""

    name: str
    label: str  # the last part of the name
    depth: int
    role: str  # "" = not scanned
    missing: bool = False
    selectable: bool = True
    special_use: str | None = None
    stored: ScannerFolder | None = None


def build_tree(server_folders, stored: dict[str, ScannerFolder]) -> list[FolderRow]:
    """Order folders as a tree (parents before children) from their names and delimiters."""
    rows: list[FolderRow] = []
    keyed = []
    for folder in server_folders:
        delim = folder.delimiter or ""
        parts = folder.name.split(delim) if delim else [folder.name]
        # INBOX first, then the rest by path, case-insensitive (how mail clients show them).
        keyed.append(((parts[0].upper() != "INBOX", [p.lower() for p in parts]), folder, parts))
    keyed.sort(key=lambda item: item[0])
    for _key, folder, parts in keyed:
        flags = {f.lower() for f in (folder.flags or ())}
        row_stored = stored.get(folder.name)
        rows.append(
            FolderRow(
                name=folder.name,
                label=parts[-1],
                depth=len(parts) - 1,
                role=row_stored.role if row_stored else "",
                selectable="\\noselect" not in flags and "\\nonexistent" not in flags,
                special_use=folder.special_use,
                stored=row_stored,
            )
        )
    on_server = {f.name for f in server_folders}
    for name, folder in sorted(stored.items()):
        if name not in on_server:
            rows.append(
                FolderRow(
                    name=name, label=name, depth=0, role=folder.role, missing=True, stored=folder
                )
            )
    return rows


def _list_server_folders(account: ScannerAccount):
    from corpmail.mail.imap import ImapSession

    # A page waits for this: never the full scan timeout.
    with ImapSession.for_account(
        account, timeout=min(current_app.config["IMAP_TIMEOUT"], 10.0)
    ) as session:
        return session.list_folders()


@bp.route("/accounts/<int:account_id>/folders", methods=["GET", "POST"])
def account_folders(account_id: int):
    account = db.get_or_404(ScannerAccount, account_id)
    stored = {f.name: f for f in account.folders}
    error = None
    server_folders = None
    try:
        server_folders = _list_server_folders(account)
    except MailError as exc:
        error = str(exc)
    except Exception as exc:  # a bug or an unexpected library error must not become a 500 page
        log.exception("listing folders of account %s failed", account.id)
        error = f"{type(exc).__name__}: {exc}"

    form = PostForm()
    if form.validate_on_submit():
        if server_folders is None:
            flash(
                _("The folders could not be saved: the server's folder list could not be read."),
                "danger",
            )
        else:
            on_server = {f.name for f in server_folders}
            wanted: dict[str, str] = {}
            bad = False
            for key, name in request.form.items():
                if not key.startswith("folder-"):
                    continue
                role = request.form.get("role-" + key[len("folder-") :], "")
                if role and role not in FOLDER_ROLES:
                    bad = True
                    continue
                if name in on_server or name in stored:
                    wanted[name] = role
            if bad:
                flash(_("Unknown folder role."), "danger")
            else:
                for name, role in wanted.items():
                    row = stored.get(name)
                    if not role:
                        if row is not None:
                            db.session.delete(row)
                    elif row is None:
                        db.session.add(
                            ScannerFolder(account=account, name=name, role=role, missing=False)
                        )
                    else:
                        row.role = role
                        row.missing = name not in on_server
                db.session.commit()
                chosen = sum(1 for r in wanted.values() if r)
                flash(_("Folders saved: %(count)d scanned.", count=chosen), "success")
                return redirect(url_for("admin.account_folders", account_id=account.id))
    if server_folders is not None:
        rows = build_tree(server_folders, stored)
    else:
        rows = [
            FolderRow(name=f.name, label=f.name, depth=0, role=f.role, missing=f.missing, stored=f)
            for f in stored.values()
        ]
    return render_template(
        "admin/account_folders.html",
        account=account,
        rows=rows,
        error=error,
        form=form,
        roles=FOLDER_ROLE_LABELS,
        connected=server_folders is not None,
    )


@bp.route("/accounts/<int:account_id>/verify", methods=["POST"])
def account_verify(account_id: int):
    account = db.get_or_404(ScannerAccount, account_id)
    if not PostForm().validate_on_submit():
        abort(400)
    from corpmail.scanner import verify

    try:
        if hasattr(verify, "verify_account"):
            verify.verify_account(account.id)
        else:
            verify.verify_locked_accounts()
    except Exception as exc:
        log.exception("verification of account %s failed", account.id)
        db.session.rollback()
        flash(_("Verification failed: %(error)s", error=str(exc)), "danger")
        return redirect(url_for("admin.account_edit", account_id=account.id))
    db.session.expire_all()
    account = db.get_or_404(ScannerAccount, account_id)
    if account.status == "Locked":
        flash(
            _(
                "%(name)s is still locked: %(error)s",
                name=account.name,
                error=account.last_error or "?",
            ),
            "warning",
        )
    else:
        flash(
            _("%(name)s verified: status %(status)s.", name=account.name, status=_(account.status)),
            "success",
        )
    return redirect(url_for("admin.account_edit", account_id=account.id))
