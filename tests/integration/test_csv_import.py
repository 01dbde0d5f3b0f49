"""`corpmail import`: bad rows by line number, all-or-nothing unless --skip-invalid, encodings."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from corpmail.extensions import db
from corpmail.models import Account, Contact, Lead

MIXED = (
    "first_name,last_name,email\r\n"
    "Jan,Kowalski,jan@example.com\r\n"  # line 2: fine
    "Bad,Mail,not-an-address\r\n"  # line 3
    '"Two\r\nlines",Name,two@example.com\r\n'  # lines 4-5: fine, spans two lines
    "Dup,Licate,JAN@example.com\r\n"  # line 6: same e-mail as line 2
    ",,\r\n"  # line 7: blank, ignored
    "<script>alert(1)</script>,'; DROP TABLE contacts; --,x@@example.com\r\n"  # line 8
    "Ola,Nowak,ola@example.com\r\n"  # line 9: fine
)


def write(tmp_path, content: bytes, name: str = "import.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(cli, tmp_path):
    path = write(tmp_path, MIXED.encode())
    result = cli.invoke(args=["import", "contacts", path])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "line 3: email: 'not-an-address' is not an e-mail address (expected name@domain)",
        "line 6: same email as line 2",
        ("line 8: email: e-mail address 'x@@example.com': the part before @ has characters "
         "an address cannot contain"),
        f"Error: nothing imported: 3 problem(s) in {path}",
    ]
    assert count(Contact) == 0


def test_skip_invalid_imports_the_valid_rows_and_lists_the_rest(cli, tmp_path):
    path = write(tmp_path, MIXED.encode())
    result = cli.invoke(args=["import", "contacts", path, "--skip-invalid"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        f"Imported 3 contacts from {path} (utf-8, 3 invalid row(s) skipped)."
    )
    skipped = result.stderr.splitlines()
    assert [line.split(":")[0] for line in skipped] == [
        "skipped line 3", "skipped line 6", "skipped line 8"]
    names = db.session.scalars(select(Contact.first_name).order_by(Contact.id)).all()
    assert names == ["Jan", "Two\r\nlines", "Ola"]


def test_hostile_cells_are_refused_by_line_or_kept_verbatim(cli, tmp_path):
    """Escapes and bells are refused, like in the forms; HTML and SQL in a name are inert
    text; a website must be http(s); the file's other rows go in with --skip-invalid."""
    path = write(tmp_path, (
        "name,website,email\n"
        "Esc\x1b[31mCorp,,\n"  # line 2
        "Bell\x07 Ltd,,\n"  # line 3
        "Link Ltd,javascript://%0aalert(1),\n"  # line 4
        "<b>Bold</b> Ltd; DROP TABLE accounts;--,https://bold.test,\n"  # line 5: fine
        "Long Ltd,,\n".replace("Long Ltd", "L" * 201)  # line 6
    ).encode())
    result = cli.invoke(args=["import", "accounts", path, "--skip-invalid"])
    assert result.exit_code == 0, result.stderr
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "skipped line 2", "skipped line 3", "skipped line 4", "skipped line 6"]
    assert "name contains control characters" in result.stderr
    assert "must start with http:// or https://" in result.stderr
    assert db.session.scalars(select(Account.name)).all() == [
        "<b>Bold</b> Ltd; DROP TABLE accounts;--"]


def test_skip_invalid_does_not_excuse_an_unreadable_file(cli, tmp_path):
    path = write(tmp_path, b"first_name,colour\nJan,red\n")
    result = cli.invoke(args=["import", "contacts", path, "--skip-invalid"])
    assert result.exit_code == 1 and "unknown column(s) 'colour'" in result.stderr
    assert count(Contact) == 0


@pytest.mark.parametrize("encoding, label", [
    ("utf-8", "utf-8"),
    ("utf-8-sig", "utf-8"),  # Excel's "CSV UTF-8" writes a BOM
    ("cp1250", "cp1250"),  # Excel's "CSV" on a Polish Windows
])
def test_encodings_are_detected(cli, tmp_path, encoding, label):
    text = ("Nazwa;E-mail;Domains\r\n"
            "Zażółć Gęślą Jaźń Sp. z o.o.;biuro@zazolc.pl;zazolc.pl\r\n"
            "Łódź Ltd;;lodz.pl\r\n")
    path = write(tmp_path, text.replace("Nazwa", "name").encode(encoding))
    result = cli.invoke(args=["import", "accounts", path])
    assert result.exit_code == 0, result.stderr
    assert f"Imported 2 accounts from {path} ({label})." in result.stdout
    names = db.session.scalars(select(Account.name).order_by(Account.id)).all()
    assert names == ["Zażółć Gęślą Jaźń Sp. z o.o.", "Łódź Ltd"]  # no BOM in the first name


def test_utf16_is_named_not_misread(cli, tmp_path):
    path = write(tmp_path, "company,name\r\nŁódź,Ola\r\n".encode("utf-16"))
    result = cli.invoke(args=["import", "leads", path])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "the file is UTF-16 text: save it as CSV UTF-8 or Windows-1250",
        f"Error: nothing imported: 1 problem(s) in {path}",
    ]
    assert count(Lead) == 0


def test_help_documents_skip_invalid_and_encodings(cli):
    text = " ".join(cli.invoke(args=["import", "--help"]).stdout.split())  # unwrapped
    assert "--skip-invalid" in text and "Windows-1250" in text and "line number" in text
