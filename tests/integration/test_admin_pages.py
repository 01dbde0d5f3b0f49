"""Admin pages against the real Dovecot and database: servers, scanner accounts, folders,
configuration, and the download history (run manually, live status, stop, retry)."""

from __future__ import annotations

import html
import re
import time

import pytest
from sqlalchemy import func, select

from corpmail.extensions import db
from corpmail.models import (
    Email,
    MailConfiguration,
    MailServer,
    MessageFailure,
    ScannerAccount,
    ScannerFolder,
    ScanRun,
)
from corpmail.models.base import utcnow


@pytest.fixture
def app_config():
    # "Run scanning manually" must start a real background thread here, as in production.
    return {"SCAN_IN_THREAD": True}


@pytest.fixture
def admin(client_as, admin_user):
    return client_as(admin_user)


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def server_data(**overrides) -> dict:
    data = {
        "name": "Main IMAP",
        "active": "y",
        "visible": "y",
        "auth_method": "basic",
        "imap_host": "imap.example.com",
        "imap_security": "ssl",
        "imap_port": "",
        "imap_validate_cert": "y",
        "smtp_host": "smtp.example.com",
        "smtp_security": "starttls",
        "smtp_port": "",
        "smtp_validate_cert": "y",
        "rc_identities_level": "0",
        "submit": "Save",
    }
    data.update(overrides)
    return data


def message(n: int, subject: str | None = None) -> bytes:
    return (
        f"From: Client {n} <client{n}@customer.test>\r\nTo: desk@corp.test\r\n"
        f"Subject: {subject or f'Question {n}'}\r\nMessage-ID: <q{n}-{time.time_ns()}@customer.test>\r\n"
        f"Date: Mon, 3 Mar 2025 10:00:00 +0000\r\n\r\nHello {n}\r\n"
    ).encode()


def wait_for(predicate, timeout: float = 60.0, step: float = 0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        db.session.expire_all()
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting")


# --------------------------------------------------------------------------- mail servers
@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"imap_port": "0"}, "port 0 is out of range: use 1 to 65535"),
        ({"imap_port": "70000"}, "port 70000 is out of range: use 1 to 65535"),
        ({"smtp_port": "-5"}, "out of range"),
        ({"imap_port": "abc"}, "Not a valid integer value"),
        ({"imap_host": "mail server.example.com"}, "must not contain spaces"),
        ({"imap_host": "imaps://mail.example.com"}, "must not include a scheme"),
        ({"smtp_host": "smtp.example.com:587"}, "must not include a port"),
        ({"imap_host": ""}, "This field is required"),
        ({"name": ""}, "This field is required"),
        ({"name": "x" * 51}, "Field must be between 1 and 50 characters long"),
        ({"name": "Mail 📧 server"}, "Use letters, digits, spaces"),
        ({"name": "<script>alert(1)</script>"}, "Use letters, digits, spaces"),
        ({"imap_security": "tls13"}, "Not a valid choice"),
    ],
)
def test_server_add_refuses_invalid_values_with_a_field_error(admin, post_form, overrides, error):
    resp = post_form(admin, "/admin/servers/new", server_data(**overrides))
    assert resp.status_code == 200
    page = text(resp)
    assert error in page
    assert "is-invalid" in page
    assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)  # escaped if echoed
    assert count(MailServer) == 0


def test_server_add_refuses_a_one_megabyte_name(admin, post_form):
    resp = post_form(admin, "/admin/servers/new", server_data(name="n" * 1_000_000))
    # Werkzeug refuses such a form body (413) before the view; either way nothing is saved.
    assert resp.status_code in (200, 413)
    if resp.status_code == 200:
        assert "between 1 and 50" in text(resp)
    assert count(MailServer) == 0


def test_server_add_with_default_ports_then_edit(admin, post_form):
    resp = post_form(admin, "/admin/servers/new", server_data(name="Żółw Mail (HQ)"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/servers")
    server = db.session.scalar(select(MailServer))
    assert (server.name, server.imap_port, server.smtp_port) == ("Żółw Mail (HQ)", 993, 587)
    assert server.imap_security == "ssl" and server.active and server.visible

    listing = text(admin.get("/admin/servers"))
    assert "Żółw Mail (HQ)" in listing and "imap.example.com:993" in listing

    resp = post_form(
        admin,
        f"/admin/servers/{server.id}/edit",
        server_data(
            name="HQ",
            imap_host="IMAP.Example.COM",
            imap_security="none",
            imap_port="1143",
            smtp_host="",
            visible=None,
            rc_spellcheck="y",
            rc_identities_level="3",
        ),
    )
    assert resp.status_code == 302
    db.session.expire_all()
    server = db.session.get(MailServer, server.id)
    assert (server.name, server.imap_host, server.imap_port, server.imap_security) == (
        "HQ",
        "imap.example.com",
        1143,
        "none",
    )
    assert server.smtp_host is None and server.visible is False
    assert server.rc_spellcheck is True and server.rc_identities_level == 3


def test_server_names_are_unique(admin, post_form, mail_server):
    resp = post_form(admin, "/admin/servers/new", server_data(name=mail_server.name.upper()))
    assert resp.status_code == 200
    assert "A mail server with this name already exists." in text(resp)
    assert count(MailServer) == 1


def test_server_delete_is_refused_while_an_account_uses_it(admin, post_form, scanner_account):
    server_id = scanner_account.server_id
    resp = post_form(admin, f"/admin/servers/{server_id}/delete", follow_redirects=True)
    page = text(resp)
    assert "cannot be deleted" in page and scanner_account.name in page
    assert count(MailServer) == 1

    # Once the account is gone, the server can go too.
    resp = post_form(admin, f"/admin/accounts/{scanner_account.id}/delete", follow_redirects=True)
    assert "deleted" in text(resp)
    resp = post_form(admin, f"/admin/servers/{server_id}/delete", follow_redirects=True)
    assert "Mail server Test Dovecot deleted." in text(resp)
    assert count(MailServer) == 0


def test_delete_asks_for_confirmation(admin, mail_server):
    page = text(admin.get("/admin/servers"))
    assert 'data-confirm="Delete the mail server Test Dovecot?"' in page


def test_test_connection_from_the_list_shows_capabilities_and_login(
    admin, post_form, mail_server, mailbox
):
    login, password = mailbox
    resp = post_form(
        admin, f"/admin/servers/{mail_server.id}/test", {"login": login, "password": password}
    )
    assert resp.status_code == 200
    page = text(resp)
    caps = re.search(r'data-role="capabilities">(.*?)</dd>', page, re.DOTALL).group(1)
    assert "IMAP4REV1" in caps and "IDLE" in caps  # post-login capabilities of Dovecot
    assert "Connected" in page and "ms</dd>" in page  # latency shown
    assert "PIPELINING" in page or "8BITMIME" in page  # SMTP EHLO extensions of the relay
    assert password not in page


def test_test_connection_shows_the_login_refusal(admin, post_form, mail_server, mailbox):
    resp = post_form(
        admin,
        f"/admin/servers/{mail_server.id}/test",
        {"login": mailbox[0], "password": "wrong-password"},
    )
    page = text(resp)
    assert "Login refused" in page and "AUTHENTICATIONFAILED" in page.upper()


def test_test_connection_on_the_form_uses_the_form_values_and_saves_nothing(
    admin, post_form, dovecot
):
    from corpmail.devstack.dovecot import free_port

    data = server_data(
        name="Probe",
        imap_host=dovecot.host,
        imap_port=str(dovecot.imap_port),
        imap_security="starttls",
        imap_validate_cert=None,
        smtp_host="",
        submit=None,
        test="Test connection",
    )
    page = text(post_form(admin, "/admin/servers/new", data))
    assert "STARTTLS" in page or "IMAP4REV1" in page
    assert re.search(r"TLS</dt><dd[^>]*>TLSv1\.[23]", page), "the TLS version is shown"
    assert count(MailServer) == 0

    closed = free_port()
    data.update(imap_security="none", imap_port=str(closed))
    page = text(post_form(admin, "/admin/servers/new", data))
    error = re.search(r'data-role="error">(.*?)</div>', page, re.DOTALL).group(1)
    assert str(closed) in error and "refused" in error.lower()
    assert count(MailServer) == 0


# --------------------------------------------------------------------------- scanner accounts
def account_data(server_id: int, owner_id: int, actions: list[str], **overrides) -> dict:
    data = {
        "name": "Sales desk",
        "server_id": str(server_id),
        "login": "sales@corp.test",
        "password": "s3cret",
        "status": "Active",
        "actions": actions,
        "search_fields": ["contacts.email", "accounts.domains"],
        "email_exceptions": "",
        "domain_exceptions": "",
        "owner_id": str(owner_id),
        "submit": "Save",
    }
    for index, name in enumerate(actions, start=1):
        data[f"actions-order-{name}"] = str(index)
    data.update(overrides)
    return data


def test_account_add_refuses_actions_in_the_wrong_order(admin, post_form, mail_server, admin_user):
    data = account_data(mail_server.id, admin_user.id, ["bind-email", "create-email"])
    page = text(post_form(admin, "/admin/accounts/new", data))
    assert re.search(
        r'data-role="actions-error">Action bind-email needs create-email before it', page
    )
    assert count(ScannerAccount) == 0

    # Same boxes, reordered with the order numbers (what the up/down buttons do): accepted.
    data.update({"actions-order-bind-email": "2", "actions-order-create-email": "1"})
    resp = post_form(admin, "/admin/accounts/new", data)
    assert resp.status_code == 302
    account = db.session.scalar(select(ScannerAccount))
    assert account.actions == ["create-email", "bind-email"]


def test_account_add_validates_exceptions_and_names(
    admin, post_form, mail_server, admin_user, scanner_account
):
    data = account_data(
        mail_server.id,
        admin_user.id,
        ["create-email"],
        name=scanner_account.name,
        email_exceptions="ok@x.test\nnot-an-address",
        domain_exceptions="bad domain!.test",
    )
    page = text(post_form(admin, "/admin/accounts/new", data))
    assert "not-an-address" in page and "is not an e-mail address" in page
    assert "is not a valid domain" in page
    assert count(ScannerAccount) == 1


def test_account_add_and_edit(admin, post_form, mail_server, admin_user):
    data = account_data(
        mail_server.id,
        admin_user.id,
        ["create-email", "bind-email", "create-ticket"],
        email_exceptions="NoReply@Example.com, alerts@example.com",
        domain_exceptions="@Newsletter.Example.com",
    )
    resp = post_form(admin, "/admin/accounts/new", data)
    assert resp.status_code == 302 and "/folders" in resp.headers["Location"]
    account = db.session.scalar(select(ScannerAccount))
    assert account.password == "s3cret" and "s3cret" not in account.password_encrypted
    assert account.actions == ["create-email", "bind-email", "create-ticket"]
    assert account.search_fields == ["contacts.email", "accounts.domains"]
    assert account.email_exceptions.split() == ["noreply@example.com", "alerts@example.com"]
    assert account.domain_exceptions == "newsletter.example.com"
    assert account.owner_id == admin_user.id

    edit_page = admin.get(f"/admin/accounts/{account.id}/edit").get_data(as_text=True)
    assert "s3cret" not in edit_page and account.password_encrypted not in edit_page

    # A blank password keeps the stored one; an admin may move it to Inactive.
    resp = post_form(
        admin,
        f"/admin/accounts/{account.id}/edit",
        account_data(
            mail_server.id, admin_user.id, ["create-email"], password="", status="Inactive"
        ),
    )
    assert resp.status_code == 302
    db.session.expire_all()
    account = db.session.get(ScannerAccount, account.id)
    assert account.password == "s3cret" and account.status == "Inactive"
    assert account.actions == ["create-email"]

    # Locked is not a status an admin can choose.
    page = text(
        post_form(
            admin,
            f"/admin/accounts/{account.id}/edit",
            account_data(mail_server.id, admin_user.id, ["create-email"], status="Locked"),
        )
    )
    assert "Not a valid choice" in page


def test_a_new_account_needs_a_password(admin, post_form, mail_server, admin_user):
    page = text(
        post_form(
            admin,
            "/admin/accounts/new",
            account_data(mail_server.id, admin_user.id, ["create-email"], password=""),
        )
    )
    assert "A password is required" in page
    assert count(ScannerAccount) == 0


def test_locked_account_shows_its_error_and_verify_now_unlocks_it(
    admin, post_form, scanner_account, dovecot
):
    real_password = scanner_account.password
    scanner_account.status = "Locked"
    scanner_account.locked_at = utcnow()
    scanner_account.password = "wrong"
    scanner_account.last_error = "Login refused: old error"
    db.session.commit()

    page = text(admin.get(f"/admin/accounts/{scanner_account.id}/edit"))
    assert "Login refused: old error" in page and "Verify now" in page
    assert "Locked" in text(admin.get("/admin/accounts"))

    page = text(
        post_form(admin, f"/admin/accounts/{scanner_account.id}/verify", follow_redirects=True)
    )
    assert "is still locked" in page and "AUTHENTICATIONFAILED" in page.upper()

    # Fix the password: blank keeps it, so give it; the status stays Locked until verified.
    resp = post_form(
        admin,
        f"/admin/accounts/{scanner_account.id}/edit",
        account_data(
            scanner_account.server_id,
            scanner_account.owner_id,
            list(scanner_account.actions),
            name=scanner_account.name,
            login=scanner_account.login,
            password=real_password,
            status="Locked",
        ),
    )
    assert resp.status_code == 302
    page = text(
        post_form(admin, f"/admin/accounts/{scanner_account.id}/verify", follow_redirects=True)
    )
    assert "verified: status Active" in page
    db.session.expire_all()
    account = db.session.get(ScannerAccount, scanner_account.id)
    assert account.status == "Active" and account.last_error is None and account.last_login


def test_folder_tree_is_read_live_and_roles_are_saved(admin, post_form, scanner_account, dovecot):
    login, password = scanner_account.login, scanner_account.password
    for folder in ["Sent", "Projects/Alpha/Invoices", "Archive 2024"]:
        dovecot.append(login, password, folder, message(1))
    # A folder stored earlier but gone from the server.
    db.session.add(ScannerFolder(account_id=scanner_account.id, name="Old/Gone", role="All"))
    db.session.commit()

    resp = admin.get(f"/admin/accounts/{scanner_account.id}/folders")
    assert resp.status_code == 200
    page = text(resp)
    names = re.findall(r'<tr class="[^"]*" data-folder="([^"]+)"', page)
    assert names[0] == "INBOX"
    for name in [
        "Sent",
        "Projects",
        "Projects/Alpha",
        "Projects/Alpha/Invoices",
        "Archive 2024",
        "Old/Gone",
    ]:
        assert name in names, (name, names)
    # Children come right after their parent, indented one step more.
    i = names.index("Projects")
    assert names[i + 1 : i + 3] == ["Projects/Alpha", "Projects/Alpha/Invoices"]
    row = page.split('data-folder="Projects/Alpha/Invoices"', 1)[1].split("</tr>", 1)[0]
    assert "padding-left: 3.0rem" in row and ">Invoices<" in row
    gone = page.split('data-folder="Old/Gone"', 1)[1].split("</tr>", 1)[0]
    assert "missing on the server" in gone

    # Post the roles as the page names its inputs (folder-N / role-N).
    form = dict(re.findall(r'name="(folder-\d+)" value="([^"]+)"', page))
    by_name = {v: k.split("-")[1] for k, v in form.items()}
    roles = {"INBOX": "Received", "Sent": "Sent", "Projects/Alpha/Invoices": "All", "Old/Gone": ""}
    data = dict(form)
    for name, index in by_name.items():
        data[f"role-{index}"] = roles.get(name, "")
    resp = post_form(admin, f"/admin/accounts/{scanner_account.id}/folders", data)
    assert resp.status_code == 302
    db.session.expire_all()
    saved = dict(
        db.session.execute(
            select(ScannerFolder.name, ScannerFolder.role).where(
                ScannerFolder.account_id == scanner_account.id
            )
        ).all()
    )
    assert saved == {"INBOX": "Received", "Sent": "Sent", "Projects/Alpha/Invoices": "All"}

    # A folder name the server does not have is not stored from a forged post.
    post_form(
        admin,
        f"/admin/accounts/{scanner_account.id}/folders",
        {"folder-1": "Nope", "role-1": "Received"},
    )
    assert count(ScannerFolder) == 3


def test_folder_page_shows_a_connection_error_not_a_500(admin, scanner_account):
    scanner_account.password = "wrong"
    db.session.commit()
    resp = admin.get(f"/admin/accounts/{scanner_account.id}/folders")
    assert resp.status_code == 200
    page = text(resp)
    assert "could not be read from the server" in page and "Login refused" in page
    assert 'data-folder="INBOX"' in page  # the stored folders are still listed


# --------------------------------------------------------------------------- configuration
def config_form(client) -> dict:
    """The configuration form as the browser would post it, unchanged."""
    page = client.get("/admin/configuration").get_data(as_text=True)
    data: dict = {}
    for name, value in re.findall(
        r'<input class="form-control[^"]*" type="(?:number|text|email)" '
        r'id="\w+" name="(\w+)" value="([^"]*)"',
        page,
    ):
        data[name] = html.unescape(value)
    for name in re.findall(
        r'type="checkbox" role="switch" id="\w+" name="(\w+)" value="on" checked', page
    ):
        data[name] = "on"
    for name, body in re.findall(
        r'<select class="form-select[^"]*" id="\w+" name="(\w+)">(.*?)</select>', page, re.DOTALL
    ):
        data[name] = re.search(r'<option value="([^"]*)" selected', body).group(1)
    for name, body in re.findall(
        r'<textarea[^>]* name="(\w+)"[^>]*>(.*?)</textarea>', page, re.DOTALL
    ):
        data[name] = html.unescape(body)
    return data


def test_configuration_form_has_every_setting_and_saves(admin, post_form):
    from corpmail.configuration import SETTINGS

    data = config_form(admin)
    bools = [k for k, s in SETTINGS.items() if s.kind == "bool"]
    assert set(SETTINGS) - set(bools) <= set(data), set(SETTINGS) - set(data)
    data.update(
        scan_interval="120",
        max_messages_per_run="50",
        email_exceptions="A@x.test\nb@y.test",
        notification_email="Ops@Corp.test",
        ticket_on_closed_reply="new ticket",
        ticket_prefix="HD",
        mail_icon_refresh_s="300",
    )
    data.pop("skip_auto_generated", None)  # untick
    data["mark_seen"] = "on"
    resp = post_form(admin, "/admin/configuration", data, follow_redirects=True)
    assert "Mail configuration saved" in text(resp)
    db.session.expire_all()
    row = MailConfiguration.get()
    assert (
        row.scan_interval,
        row.max_messages_per_run,
        row.mark_seen,
        row.skip_auto_generated,
    ) == (120, 50, True, False)
    assert row.email_exceptions == "a@x.test\nb@y.test"
    assert (row.notification_email, row.ticket_on_closed_reply, row.ticket_prefix) == (
        "ops@corp.test",
        "new ticket",
        "HD",
    )
    assert row.mail_icon_refresh_s == 300
    # The page shows the stored values back.
    again = config_form(admin)
    assert (
        again["scan_interval"] == "120"
        and "mark_seen" in again
        and "skip_auto_generated" not in again
    )


def test_configuration_refuses_invalid_values_and_saves_nothing(admin, post_form):
    data = config_form(admin)
    data.update(
        scan_interval="0",
        mail_icon_refresh_s="4",
        notification_email="not an address",
        domain_exceptions="good.test bad_domain!",
        ticket_prefix="T-1",
        ticket_default_status="Closed",
        max_messages_per_run="77",
    )
    resp = post_form(admin, "/admin/configuration", data)
    assert resp.status_code == 200
    page = text(resp)
    errors = re.findall(r'data-role="error">(.*?)</div>', page)
    assert len(errors) == 6, errors
    assert "The configuration was not saved" in page
    assert "0 is out of range" in page
    db.session.expire_all()
    row = MailConfiguration.get()
    assert row.scan_interval == 60 and row.max_messages_per_run == 500  # the valid one too


# --------------------------------------------------------------------------- download history
def test_run_manually_scans_in_the_background_and_the_history_shows_it(
    admin, post_form, scanner_account, dovecot, admin_user
):
    for n in range(3):
        dovecot.append(scanner_account.login, scanner_account.password, "INBOX", message(n))

    started = time.monotonic()
    resp = post_form(admin, "/admin/runs/start")
    assert resp.status_code == 302 and "/admin/runs" in resp.headers["Location"]
    assert time.monotonic() - started < 5  # the request only starts the thread

    run = wait_for(
        lambda: db.session.scalar(
            select(ScanRun).where(ScanRun.status != "In progress").order_by(ScanRun.id.desc())
        )
    )
    assert run.trigger == "admin" and run.triggered_by_id == admin_user.id
    assert (run.status, run.fetched, run.stored) == ("OK", 3, 3)
    assert count(Email) == 3

    page = text(admin.get("/admin/runs"))
    row = page.split(f'data-run-id="{run.id}"', 1)[1].split("</tr>", 1)[0]
    assert "OK" in row and "Ada Admin" in row and scanner_account.name in row
    assert re.search(r'data-counter="stored">3<', row)
    status = admin.get("/admin/runs/status.json").get_json()
    assert status["latest_id"] == run.id and status["running"] == []
    status = admin.get(f"/admin/runs/status.json?ids={run.id}").get_json()
    assert (
        status["runs"][str(run.id)]["stored"] == 3 and status["runs"][str(run.id)]["status"] == "OK"
    )

    detail = text(admin.get(f"/admin/runs/{run.id}"))
    assert "Scan run" in detail and re.search(r'data-counter="fetched">3<', detail)


def test_history_can_show_only_the_runs_with_mail_or_errors(admin, scanner_account):
    def add(status: str, fetched: int) -> int:
        run = ScanRun(account_id=scanner_account.id, account_name=scanner_account.name,
                      trigger="scheduler", status=status, fetched=fetched, stored=fetched,
                      finished_at=utcnow())
        db.session.add(run)
        db.session.commit()
        return run.id

    idle, busy, failed = add("OK", 0), add("OK", 2), add("Error", 0)

    def shown(page: str) -> set[int]:
        return {i for i in (idle, busy, failed) if f'data-run-id="{i}"' in page}

    assert shown(text(admin.get("/admin/runs"))) == {idle, busy, failed}
    page = text(admin.get("/admin/runs?show=busy"))
    assert shown(page) == {busy, failed}
    assert 'aria-current=page href="/admin/runs?show=busy"' in page


def test_a_running_scan_disables_the_button_shows_progress_and_can_be_stopped(
    admin, post_form, scanner_account, admin_user
):
    run = ScanRun(
        account_id=scanner_account.id,
        account_name=scanner_account.name,
        trigger="cli",
        status="In progress",
        heartbeat_at=utcnow(),
        fetched=7,
        stored=5,
        skipped=2,
    )
    db.session.add(run)
    db.session.commit()

    page = text(admin.get("/admin/runs"))
    button = re.search(
        r'<button type="submit" class="btn btn-sm btn-primary"([^>]*)>[^<]*<svg.*?Run scanning manually',
        page,
        re.DOTALL,
    )
    assert button and "disabled" in button.group(1)
    assert f'data-running="{run.id}"' in page
    row = page.split(f'data-run-id="{run.id}"', 1)[1].split("</tr>", 1)[0]
    assert "In progress" in row and f"/admin/runs/{run.id}/stop" in row

    status = admin.get("/admin/runs/status.json").get_json()
    assert status["running"] == [run.id]
    assert status["runs"][str(run.id)]["fetched"] == 7

    # A second start is refused while it runs.
    resp = post_form(admin, "/admin/runs/start", follow_redirects=True)
    assert "already running" in text(resp)
    assert count(ScanRun) == 1

    resp = post_form(admin, f"/admin/runs/{run.id}/stop", follow_redirects=True)
    assert "Stop requested" in text(resp)
    db.session.expire_all()
    run = db.session.get(ScanRun, run.id)
    assert run.stop_requested and run.stopped_by_id == admin_user.id


def test_stop_ends_a_real_background_scan(admin, post_form, scanner_account, dovecot):
    dovecot.append_many(
        scanner_account.login, scanner_account.password, "INBOX", [message(n) for n in range(300)]
    )
    assert post_form(admin, "/admin/runs/start").status_code == 302
    run = wait_for(
        lambda: db.session.scalar(select(ScanRun).order_by(ScanRun.id.desc())), step=0.01
    )
    post_form(admin, f"/admin/runs/{run.id}/stop")
    run = wait_for(
        lambda: db.session.scalar(
            select(ScanRun).where(ScanRun.id == run.id, ScanRun.status != "In progress")
        )
    )
    assert run.status == "Stopped", (run.status, run.stored, run.error)
    assert run.stored < 300 and run.stopped_by_id is not None
    assert (
        "Ada Admin"
        in text(admin.get("/admin/runs")).split(f'data-run-id="{run.id}"', 1)[1].split("</tr>")[0]
    )


def test_retry_stores_a_quarantined_message(admin, post_form, scanner_account):
    raw = message(42, subject="Quarantined but fine")
    message_id = re.search(rb"Message-ID: <([^>]+)>", raw).group(1).decode()
    run = ScanRun(
        account_id=scanner_account.id,
        account_name=scanner_account.name,
        status="OK",
        trigger="scheduler",
        finished_at=utcnow(),
        failed=1,
        quarantined=1,
    )
    db.session.add(run)
    db.session.flush()
    failure = MessageFailure(
        account_id=scanner_account.id,
        folder="INBOX",
        uidvalidity=1,
        uid=4242,
        attempts=3,
        last_error="RuntimeError: boom",
        subject="Quarantined but fine",
        quarantined=True,
        raw=raw,
    )
    db.session.add(failure)
    db.session.commit()

    page = text(admin.get(f"/admin/runs/{run.id}"))
    row = page.split(f'data-failure-id="{failure.id}"', 1)[1].split("</tr>", 1)[0]
    assert "RuntimeError: boom" in row and f"/admin/failures/{failure.id}/retry" in row

    resp = post_form(admin, f"/admin/failures/{failure.id}/retry", {"next": str(run.id)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/admin/runs/{run.id}")
    page = text(admin.get(resp.headers["Location"]))
    assert "Retry of the message: stored." in page
    assert f'data-failure-id="{failure.id}"' not in page  # resolved: no longer listed
    db.session.expire_all()
    email = db.session.scalar(select(Email).where(Email.message_id == message_id))
    assert email is not None and email.subject == "Quarantined but fine"
    assert db.session.get(MessageFailure, failure.id).resolved_at is not None

    # A second retry does not store it twice.
    resp = post_form(
        admin, f"/admin/failures/{failure.id}/retry", {"next": str(run.id)}, follow_redirects=True
    )
    assert "already stored" in text(resp)
    assert count(Email) == 1
