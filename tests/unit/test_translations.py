"""The Polish catalog: complete, compiled, in step with the source, and used by the pages."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LC_MESSAGES = ROOT / "corpmail" / "translations" / "pl" / "LC_MESSAGES"
PO = LC_MESSAGES / "messages.po"
MO = LC_MESSAGES / "messages.mo"
FIX = (
    "run scripts/i18n, translate the listed entries in "
    "corpmail/translations/pl/LC_MESSAGES/messages.po, run scripts/i18n again and commit "
    "the .po and .mo"
)

# %(name)s, %s, %d, ... (python-format) and {0} / {name} (str.format); %% is a literal.
PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[sdifrxXeEgGc%]")
BRACES = re.compile(r"\{[\w.\[\]]*(?:![rsa])?(?::[^{}]*)?\}")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def read_catalog(path: Path = PO) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def messages(catalog) -> dict[tuple[str | None, str | tuple], object]:
    """(context, msgid) -> msgstr of every translated, non-fuzzy entry, the header left out."""
    return {
        (m.context, m.id): m.string
        for m in catalog
        if m.id and not m.fuzzy and all(_strings(m.string))
    }


def _strings(value) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def placeholders(text: str, python_format: bool) -> list[str]:
    found = BRACES.findall(text) + TAG.findall(text)
    if python_format:
        found += [p for p in PERCENT.findall(text) if p != "%%"]
    return sorted(found)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return read_catalog()


# ----------------------------------------------------------------------- (a) complete
def test_catalog_is_polish_with_three_plural_forms(catalog):
    assert str(catalog.locale) == "pl"
    assert catalog.num_plurals == 3
    assert not catalog.fuzzy, "the header is marked fuzzy: pybabel compile would skip it"


def test_every_entry_is_translated_and_not_fuzzy(catalog):
    todo = [m.id for m in catalog if m.id and (m.fuzzy or not all(_strings(m.string)))]
    assert not todo, f"{len(todo)} untranslated or fuzzy entries ({FIX}): {todo}"
    assert not list(catalog.obsolete), "obsolete entries left in the .po: run scripts/i18n"


def test_placeholders_and_markup_match_the_msgid(catalog):
    wrong = []
    for m in catalog:
        if not m.id:
            continue
        ids = _strings(m.id)
        wanted = placeholders(ids[-1], m.python_format)
        for string in _strings(m.string):
            if placeholders(string, m.python_format) != wanted:
                wrong.append((m.id, string))
    assert not wrong, f"placeholders or HTML differ from the msgid: {wrong}"
    # Babel's own checks too (plural count, python-format compatibility).
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems, problems


def test_translations_differ_from_english_except_for_shared_terms(catalog):
    # Catches a copy-pasted msgid; these are the same word (or a name) in both languages.
    same_ok = {
        "CRM",
        "OK",
        "SSL/TLS",
        "STARTTLS",
        "OAuth 2.0",
        "TLS",
        "IMAP",
        "SMTP",
        "HTML",
        "Spam",
        "E-mail",
        "Login",
        "Status",
        "Lead",
        "Folder",
        "Message-ID",
    }
    copied = [
        m.id
        for m in catalog
        if m.id and isinstance(m.id, str) and m.string == m.id and m.id not in same_ok
    ]
    assert not copied, f"left in English: {copied}"


# ----------------------------------------------------------------------- (b) compiled
def test_committed_mo_matches_the_po(catalog):
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # what pybabel compile writes (fuzzy entries left out)
    compiled.seek(0)
    with MO.open("rb") as f:
        committed = read_mo(f)
    expected = messages(read_mo(compiled))
    assert messages(committed) == expected, f"messages.mo is out of date with the .po: {FIX}"


# ----------------------------------------------------------------------- (c) in step
def extract_template(tmp_path: Path) -> Catalog:
    """Re-extract the source exactly as scripts/i18n does."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "lazy_pgettext:1c,2",
            "-o",
            str(pot),
            str(ROOT),
        ]
    )
    return read_catalog(pot)


def test_every_source_string_is_in_the_catalog(catalog, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # babel.cfg patterns are relative to the project root
    template = extract_template(tmp_path)
    assert len([m for m in template if m.id]) > 100, "extraction found almost nothing"
    known = {(m.context, m.id) for m in catalog if m.id}
    missing = [
        m.id if m.context is None else (m.context, m.id)
        for m in template
        if m.id and (m.context, m.id) not in known
    ]
    assert not missing, f"{len(missing)} source strings are not in the .po ({FIX}): {missing}"


# ----------------------------------------------------------------------- (d) used
def as_language(app, user, language: str) -> None:
    from corpmail.extensions import db

    user.language = language
    db.session.commit()


def page(app, client, url: str, **kwargs) -> str:
    """GET url in an app context of its own, as in production. The ``app`` fixture keeps
    one context pushed for the whole test and requests reuse it, so without this the
    locale Flask-Babel caches on ``g`` at the first request (the anonymous login page)
    would be reused by every later request."""
    with app.app_context():
        return client.get(url, **kwargs).get_data(as_text=True)


def test_polish_user_sees_polish_pages(app, admin_user, client_as):
    as_language(app, admin_user, "pl")
    client = client_as(admin_user)

    servers = page(app, client, "/admin/servers")
    assert '<html lang="pl">' in servers
    for text in (
        "Narzędzia pocztowe",
        "Serwery poczty",
        "Skaner poczty",
        "Poczta - konfiguracja",
        "Poczta - historia pobierania",
        "Dodaj rekord",
        "Zgłoszenia",
        "Kontrahenci",
        "Wyloguj",
    ):
        assert text in servers, text
    for english in ("Mail tools", "Add record", "Log out"):
        assert english not in servers, english

    runs = page(app, client, "/admin/runs")
    assert "Uruchom skanowanie ręcznie" in runs

    tickets = page(app, client, "/tickets")
    assert "Dodaj zgłoszenie" in tickets and "Add ticket" not in tickets

    form = page(app, client, "/admin/accounts/new")
    for text in (
        "Stwórz e-maila",
        "Powiąż wiadomość e-mail",
        "Otwórz zgłoszenie",
        "Utwórz zgłoszenie",
        "Pola wyszukiwania",
    ):
        assert text in form, text


def test_english_user_keeps_english(app, admin_user, client_as):
    as_language(app, admin_user, "en")
    html = page(app, client_as(admin_user), "/admin/servers")
    assert "Mail tools" in html and "Add record" in html
    assert "Narzędzia pocztowe" not in html


def test_login_page_follows_the_browser_language(app, client):
    html = page(app, client, "/login", headers={"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"})
    assert "Zaloguj się" in html


def test_flashed_messages_are_translated(app, admin_user, client_as, post_form):
    as_language(app, admin_user, "pl")
    client = client_as(admin_user)
    with app.app_context():
        answer = post_form(client, "/profile", {"name": "Ada", "language": "pl"})
    assert answer.status_code == 302
    assert "Zapisano ustawienia." in page(app, client, answer.location)
