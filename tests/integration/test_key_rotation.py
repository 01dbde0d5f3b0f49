"""`corpmail keys rotate | reencrypt | prune`: secrets at rest move to a new key, none is lost."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from corpmail import key_rotation
from corpmail.app import create_app
from corpmail.extensions import db
from corpmail.mail import crypto
from corpmail.models import MailServer, ScannerAccount

PASSWORD = "mailbox-pass-Zx81"
ACCESS = "oauth-access-token-Qe5"
REFRESH = "oauth-refresh-token-Wr2"
CLIENT_SECRET = "oauth-client-secret-Ty7"


@pytest.fixture
def secrets_rows(app, admin_user):
    """One server and one account with every encrypted column filled."""
    server = MailServer(name="Rot", imap_host="imap.example", imap_port=143,
                        imap_security="none", smtp_host="smtp.example", smtp_port=25,
                        smtp_security="none")
    server.oauth_client_secret = CLIENT_SECRET
    account = ScannerAccount(name="rot", server=server, login="rot@example", status="Active",
                             actions=["create-email"], owner=admin_user)
    account.password = PASSWORD
    account.oauth_access_token = ACCESS
    account.oauth_refresh_token = REFRESH
    db.session.add_all([server, account])
    db.session.commit()
    return server, account


def stored_tokens() -> list[str]:
    """Every ciphertext of every registered encrypted column, in a stable order."""
    db.session.expire_all()
    out = []
    for model, name in key_rotation.ENCRYPTED_COLUMNS:
        out += [getattr(row, name) for row in db.session.query(model).order_by(model.id)
                if getattr(row, name)]
    return out


def plain_values(server_id: int, account_id: int) -> tuple:
    db.session.expire_all()
    server = db.session.get(MailServer, server_id)
    account = db.session.get(ScannerAccount, account_id)
    return (account.password, account.oauth_access_token, account.oauth_refresh_token,
            server.oauth_client_secret)


EXPECTED = (PASSWORD, ACCESS, REFRESH, CLIENT_SECRET)


def key_file(app) -> Path:
    return Path(app.instance_path) / "encryption_key"


def test_every_encrypted_column_is_in_the_rotation_registry(app):
    registered = {(model.__table__.name, name) for model, name in key_rotation.ENCRYPTED_COLUMNS}
    found = {(table.name, column.name) for table in db.metadata.sorted_tables
             for column in table.columns if column.name.endswith("_encrypted")}
    assert found == registered


def test_rotate_reencrypts_every_secret_and_keeps_the_old_key_for_reading(
        app, cli, secrets_rows):
    server, account = secrets_rows
    old_key = key_file(app).read_text().strip()
    before = stored_tokens()
    assert len(before) == 4

    result = cli.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "4 secret(s) re-encrypted" in result.output

    keys = crypto.split_keys(key_file(app).read_text())
    assert len(keys) == 2 and keys[1] == old_key and keys[0] != old_key
    assert stat.S_IMODE(os.stat(key_file(app)).st_mode) == 0o600
    after = stored_tokens()
    assert all(a != b for a, b in zip(after, before, strict=True))
    for token in after:  # the new key alone reads every secret now
        crypto.decrypt(token, keys[0])
    for token in before:  # a ciphertext made before (another process's) still reads
        crypto.decrypt(token)
    assert plain_values(server.id, account.id) == EXPECTED
    assert not list(key_file(app).parent.glob(".encryption_key-*"))  # no temp file left


def test_a_rotation_cut_after_the_key_file_leaves_every_secret_readable(
        app, secrets_rows, monkeypatch):
    """The key file is written first, with the old key kept: a crash before the
    re-encryption commits changes no secret, and the next rotation finishes the work."""
    server, account = secrets_rows
    before = stored_tokens()

    def crash(keys):
        raise RuntimeError("killed")

    monkeypatch.setattr(key_rotation, "reencrypt_all", crash)
    with pytest.raises(RuntimeError):
        key_rotation.rotate()
    monkeypatch.undo()
    assert len(crypto.split_keys(key_file(app).read_text())) == 2
    assert stored_tokens() == before
    assert plain_values(server.id, account.id) == EXPECTED

    count, keys = key_rotation.rotate()
    assert (count, keys) == (4, 3)
    assert plain_values(server.id, account.id) == EXPECTED


def test_prune_drops_the_old_key_and_every_secret_still_reads(app, cli, secrets_rows):
    server, account = secrets_rows
    old_key = key_file(app).read_text().strip()
    old_token = stored_tokens()[0]
    assert cli.invoke(args=["keys", "rotate"]).exit_code == 0

    result = cli.invoke(args=["keys", "prune"])
    assert result.exit_code == 0, result.output
    assert "1 old key(s) dropped" in result.output
    keys = crypto.split_keys(key_file(app).read_text())
    assert len(keys) == 1 and keys[0] != old_key
    assert plain_values(server.id, account.id) == EXPECTED
    with pytest.raises(crypto.SecretError):  # the old key is gone for good
        crypto.decrypt(old_token)


def test_a_running_process_follows_the_key_file_without_a_restart(app, cli, secrets_rows):
    """A web worker or scanner started before the rotation (its config holds the old key)
    reads the secrets after rotate + prune: it re-reads the changed key file."""
    server, account = secrets_rows
    worker = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]},
                        instance_path=app.instance_path)
    assert cli.invoke(args=["keys", "rotate"]).exit_code == 0
    assert cli.invoke(args=["keys", "prune"]).exit_code == 0
    with worker.app_context():
        try:
            assert worker.config["ENCRYPTION_KEY"] != crypto.split_keys(
                key_file(app).read_text())[0]
            assert db.session.get(ScannerAccount, account.id).password == PASSWORD
            # ...and what it encrypts now is under the new key
            assert crypto.decrypt(crypto.encrypt("x"), key_file(app).read_text().strip()) == "x"
        finally:
            db.session.remove()
            db.engine.dispose()


def test_an_unreadable_secret_stops_the_rotation_and_changes_nothing(app, cli, secrets_rows):
    server, account = secrets_rows
    db.session.execute(ScannerAccount.__table__.update().values(
        oauth_access_token_encrypted=Fernet(Fernet.generate_key()).encrypt(b"x").decode()))
    db.session.commit()
    before = stored_tokens()
    result = cli.invoke(args=["keys", "reencrypt"])
    assert result.exit_code == 1
    assert "scanner_accounts.oauth_access_token_encrypted" in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line, no traceback
    assert stored_tokens() == before


class TestKeysFromTheEnvironment:
    @pytest.fixture
    def app_config(self):
        self.old = Fernet.generate_key().decode()
        return {"ENCRYPTION_KEY": self.old}

    def test_rotate_explains_and_reencrypt_moves_to_the_first_key(self, app, cli, secrets_rows):
        server, account = secrets_rows
        result = cli.invoke(args=["keys", "rotate"])
        assert result.exit_code == 1
        assert "corpmail keys reencrypt" in result.output  # what to do instead

        new = Fernet.generate_key().decode()
        app.config["ENCRYPTION_KEY"] = f"{new},{self.old}"  # what a restart with the new env does
        result = cli.invoke(args=["keys", "reencrypt"])
        assert result.exit_code == 0, result.output
        assert "4 secret(s) re-encrypted" in result.output
        for token in stored_tokens():
            crypto.decrypt(token, new)
        result = cli.invoke(args=["keys", "prune"])
        assert result.exit_code == 0 and "remove the other keys" in result.output
        app.config["ENCRYPTION_KEY"] = new
        assert plain_values(server.id, account.id) == EXPECTED
