"""CSV import of contacts, accounts and leads: every row checked first, then all or nothing
(or, asked to skip invalid rows, every valid row and the list of the others)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from corpmail.extensions import db
from corpmail.models import Account, Contact, Lead, User
from corpmail.models.crm import LEAD_STATUSES
from corpmail.validation import (
    has_control_characters,
    split_list,
    validate_domain,
    validate_email,
    validate_website,
)

KINDS = ("contacts", "accounts", "leads")
MAX_FILE_BYTES = 50 * 1024 * 1024  # a CRM import, not a data warehouse load
_ENCODINGS = ("utf-8-sig", "cp1250")  # utf-8-sig also reads plain UTF-8 (BOM optional)


class CsvImportError(ValueError):
    """The file cannot be imported; `errors` lists every problem as 'line N: ...'."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(errors[0] if len(errors) == 1 else f"{len(errors)} problems: {errors[0]}")


@dataclass
class ImportResult:
    kind: str
    created: int = 0
    skipped: int = 0  # rows whose record already existed (with skip_existing)
    encoding: str = "utf-8"
    invalid: list[str] = field(default_factory=list)  # 'line N: ...' rows left out (skip_invalid)


# Each field: (max length, parser). Parsers take the stripped cell (never empty)
# and return the value to store or raise ValueError.
def _text(limit: int) -> tuple[int, Callable[[str], Any]]:
    return limit, lambda v: v


def _email() -> tuple[int, Callable[[str], Any]]:
    return 254, validate_email


FIELDS: dict[str, dict[str, tuple[int, Callable[[str], Any]]]] = {
    "contacts": {
        "first_name": _text(100),
        "last_name": _text(100),
        "email": _email(),
        "secondary_email": _email(),
        "phone": _text(50),
        "account": _text(200),  # an existing account, by name
        "owner": _email(),  # an existing user, by e-mail
    },
    "accounts": {
        "name": _text(200),
        "email": _email(),
        "website": (255, validate_website),
        "domains": (100_000, lambda v: [validate_domain(d) for d in split_list(v)]),
        "number": _text(32),
        "owner": _email(),
    },
    "leads": {
        "company": _text(200),
        "name": _text(200),
        "email": _email(),
        "status": _text(32),
        "owner": _email(),
    },
}
# Header spellings people use for the same column.
ALIASES = {
    "firstname": "first_name", "first": "first_name", "given_name": "first_name",
    "lastname": "last_name", "last": "last_name", "surname": "last_name",
    "e_mail": "email", "mail": "email",
    "secondary_e_mail": "secondary_email", "email2": "secondary_email",
    "phone_number": "phone", "telephone": "phone",
    "account_name": "account", "organisation": "account", "organization": "account",
    "company": "company", "domain": "domains", "www": "website", "url": "website",
}


def _header_key(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return ALIASES.get(key, key)


def decode(data: bytes) -> tuple[str, str]:
    """The text of the file and the encoding that read it: UTF-8 (with or without BOM) or cp1250.

    UTF-8 is strict, so a Windows-1250 file with Polish letters fails it and is read as cp1250;
    a UTF-16 file (Excel's "Unicode text") is named as such instead of read as garbage.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvImportError(["the file is UTF-16 text: save it as CSV UTF-8 or Windows-1250"])
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding), ("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            continue
    raise CsvImportError(["the file is neither UTF-8 nor Windows-1250 (cp1250) text"])


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma by default; semicolon or tab when the header uses them (Excel in Polish locales)."""
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows, each row with the file line it starts on."""
    if "\x00" in text:
        raise CsvImportError(["the file contains NUL bytes: it is not a CSV text file"])
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            line = start
            start = reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if header is None:
                header = record
            else:
                rows.append((line, record))
    except csv.Error as exc:
        raise CsvImportError([f"line {reader.line_num}: {exc}"]) from None
    if header is None:
        raise CsvImportError(["the file is empty: expected a header row naming the fields"])
    return header, rows


class _Lookups:
    """Existing users and accounts, resolved once per import (case-insensitive)."""

    def __init__(self) -> None:
        self._users: dict[str, User | None] = {}
        self._accounts: dict[str, list[Account]] = {}

    def user(self, email: str) -> User | None:
        if email not in self._users:
            self._users[email] = db.session.scalar(
                select(User).where(func.lower(User.email) == email)
            )
        return self._users[email]

    def accounts(self, name: str) -> list[Account]:
        key = name.lower()
        if key not in self._accounts:
            self._accounts[key] = list(
                db.session.scalars(select(Account).where(func.lower(Account.name) == key))
            )
        return self._accounts[key]


def _check_header(kind: str, header: list[str]) -> list[str]:
    fields = FIELDS[kind]
    keys = [_header_key(h) for h in header]
    errors = []
    unknown = [h for h, k in zip(header, keys) if k not in fields]
    if unknown:
        errors.append(
            "line 1: unknown column(s) "
            + ", ".join(repr(h[:40]) for h in unknown)
            + f"; {kind} take: {', '.join(fields)}"
        )
    seen: set[str] = set()
    for h, k in zip(header, keys):
        if k in seen and k in fields:
            errors.append(f"line 1: column {h!r} appears twice")
        seen.add(k)
    if errors:
        raise CsvImportError(errors)
    return keys


def _parse_row(kind: str, keys: list[str], record: list[str]) -> tuple[dict[str, Any], list[str]]:
    fields = FIELDS[kind]
    values: dict[str, Any] = {}
    problems: list[str] = []
    if len(record) > len(keys):
        extra = record[len(keys):]
        if any(cell.strip() for cell in extra):
            problems.append(f"{len(record)} fields but the header names {len(keys)}")
    for key, cell in zip(keys, record):
        cell = cell.strip()
        if not cell:
            continue
        limit, parse = fields[key]
        if len(cell) > limit:
            problems.append(f"{key} is too long (at most {limit} characters)")
            continue
        if has_control_characters(cell, multiline=True):  # a quoted cell may span lines
            problems.append(f"{key} contains control characters")
            continue
        try:
            values[key] = parse(cell)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    return values, problems


def _existing_key(kind: str, values: dict[str, Any]) -> tuple[str, str] | None:
    """The natural key a duplicate is recognised by: accounts by name, people by e-mail."""
    if kind == "accounts":
        return ("name", values["name"].lower()) if values.get("name") else None
    if values.get("email"):
        return ("email", values["email"])
    return None


def _exists(kind: str, key: tuple[str, str]) -> bool:
    model = {"contacts": Contact, "accounts": Account, "leads": Lead}[kind]
    column = getattr(model, key[0])
    return db.session.scalar(select(model.id).where(func.lower(column) == key[1]).limit(1)) is not None


def _validate(kind: str, values: dict[str, Any], lookups: _Lookups) -> list[str]:
    problems = []
    if kind == "contacts" and not (
        values.get("first_name") or values.get("last_name") or values.get("email")
    ):
        problems.append("a contact needs a first name, a last name or an e-mail")
    if kind == "accounts" and not values.get("name"):
        problems.append("an account needs a name")
    if kind == "leads" and not (values.get("company") or values.get("name")):
        problems.append("a lead needs a company or a name")
    if kind == "leads" and values.get("status"):
        wanted = values["status"].lower()
        match = next((s for s in LEAD_STATUSES if s.lower() == wanted), None)
        if match is None:
            problems.append(
                f"status {values['status'][:40]!r} is not one of: {', '.join(LEAD_STATUSES)}"
            )
        else:
            values["status"] = match
    if values.get("owner") and lookups.user(values["owner"]) is None:
        problems.append(f"owner {values['owner']} is not a user")
    if kind == "contacts" and values.get("account"):
        found = lookups.accounts(values["account"])
        if not found:
            problems.append(f"account {values['account'][:60]!r} does not exist")
        elif len(found) > 1:
            problems.append(f"account name {values['account'][:60]!r} is ambiguous ({len(found)} accounts)")
    return problems


def _build(kind: str, values: dict[str, Any], lookups: _Lookups):
    owner = lookups.user(values.pop("owner")) if values.get("owner") else None
    owner_id = owner.id if owner else None
    if kind == "accounts":
        domains = values.pop("domains", [])
        record = Account(owner_id=owner_id, **values)
        record.domains = domains
        return record
    if kind == "contacts":
        account = lookups.accounts(values.pop("account"))[0] if values.get("account") else None
        return Contact(account=account, owner_id=owner_id, **values)
    return Lead(owner_id=owner_id, **values)


def import_csv(kind: str, source: str | Path | bytes, skip_existing: bool = False,
               skip_invalid: bool = False) -> ImportResult:
    """Import a CSV file (path or bytes) of `kind`; commits all rows or raises CsvImportError.

    With skip_invalid, rows with problems are left out and listed in `result.invalid`, and the
    valid ones are imported; a file that cannot be read at all (encoding, header) still fails.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; use one of: {', '.join(KINDS)}")
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise CsvImportError([f"the file is larger than {MAX_FILE_BYTES // 2**20} MB"])
            data = path.read_bytes()
        except OSError as exc:
            raise CsvImportError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    else:
        data = source
    text, encoding = decode(data)
    header, rows = read_rows(text)
    keys = _check_header(kind, header)

    result = ImportResult(kind=kind, encoding=encoding)
    lookups = _Lookups()
    errors: list[str] = []
    accepted: list[dict[str, Any]] = []
    seen_keys: dict[tuple[str, str], int] = {}
    numbers: dict[str, int] = {}
    for line, record in rows:
        values, problems = _parse_row(kind, keys, record)
        problems += _validate(kind, values, lookups)
        key = _existing_key(kind, values)
        if key and not problems:
            if key in seen_keys:
                problems.append(f"same {key[0]} as line {seen_keys[key]}")
            elif _exists(kind, key):
                if skip_existing:
                    result.skipped += 1
                    seen_keys[key] = line
                    continue
                what = {"contacts": "a contact", "accounts": "an account", "leads": "a lead"}[kind]
                problems.append(
                    f"{what} with {key[0]} {str(values[key[0]])[:60]!r} already exists "
                    "(use --skip-existing to leave existing records alone)"
                )
            seen_keys[key] = line
        if kind == "accounts" and values.get("number") and not problems:
            number = values["number"]
            if number in numbers:
                problems.append(f"number {number!r} is also on line {numbers[number]}")
            elif db.session.scalar(select(Account.id).where(Account.number == number)):
                problems.append(f"an account with number {number!r} already exists")
            numbers[number] = line
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
        else:
            accepted.append(values)
    if errors and not skip_invalid:
        raise CsvImportError(errors)
    result.invalid = errors

    try:
        for values in accepted:
            db.session.add(_build(kind, values, lookups))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    result.created = len(accepted)
    return result
