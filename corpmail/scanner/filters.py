"""Skip rules (SPEC 4.5): e-mail/domain exceptions and auto-generated mail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext as _

from corpmail.scanner.matching import domain_of, normalize_addresses

if TYPE_CHECKING:
    from corpmail.mail.message import ParsedMessage
    from corpmail.scanner.context import AccountSnapshot, ConfigSnapshot


def exception_match(
    addresses: list[str], emails: set[str] | frozenset[str], domains: set[str] | frozenset[str]
) -> str | None:
    """The first address (or its domain) listed as an exception, else None."""
    for addr in normalize_addresses(addresses):
        if addr in emails:
            return addr
        domain = domain_of(addr)
        if domain and domain in domains:
            return "@" + domain
    return None


def checked_addresses(parsed: ParsedMessage, direction: str) -> list[str]:
    """Exceptions are checked against `to` for Sent mail, `from` otherwise (SPEC 4.5)."""
    if direction == "Sent":
        return [a.email for a in parsed.to]
    return [a.email for a in parsed.from_]


def skip_reason(
    parsed: ParsedMessage,
    direction: str,
    config: ConfigSnapshot,
    account: AccountSnapshot,
) -> str | None:
    """Why the message is skipped, or None when it is to be processed."""
    emails = set(config.email_exceptions) | set(account.email_exceptions)
    domains = {d.lstrip("@") for d in (*config.domain_exceptions, *account.domain_exceptions)}
    if emails or domains:
        hit = exception_match(checked_addresses(parsed, direction), emails, domains)
        if hit:
            return _("Exception: %(address)s", address=hit)
    if config.skip_auto_generated:
        from corpmail.mail.autogen import auto_generated_reason

        reason = auto_generated_reason(parsed)
        if reason:
            return _("Auto-generated: %(reason)s", reason=reason)
    return None
