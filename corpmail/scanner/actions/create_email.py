"""Create e-mail (SPEC 4.1): store the message as an E-mail record with its attachments."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from corpmail.extensions import db
from corpmail.models.base import utcnow
from corpmail.models.prepared import insert_into
from corpmail.scanner.context import ScanContext
from corpmail.scanner.registry import Action, register


def clean(text: str | None, limit: int | None = None) -> str:
    """Text the databases accept: no NUL (PostgreSQL) nor lone surrogates, within the column."""
    if not text:
        return ""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit else text


def address_list(addresses) -> list[dict[str, str]]:
    return [{"name": clean(a.name, 255), "email": clean(a.email, 254)} for a in addresses or ()]


@register
class CreateEmail(Action):
    name = "create-email"
    description = _l("Create e-mail: store the message as an e-mail record")
    requires = ()
    position = 10

    def run(self, ctx: ScanContext) -> None:
        from corpmail.mail.html import sanitize_html
        from corpmail.models import Email, EmailAttachment, EmailSeen
        from corpmail.storage import store_attachment

        p = ctx.parsed
        sender = p.sender
        now = utcnow()
        conn = ctx.connection or db.session.connection()
        email_id = insert_into(Email, returning_id=True).scalar(conn, {
            "message_key": ctx.message_key,
            "message_id": clean(p.message_id, 998) or None,
            "subject": clean(p.subject),
            "from_name": clean(sender.name if sender else "", 255),
            "from_address": clean(sender.email if sender else "", 254),
            "to": address_list(p.to),
            "cc": address_list(p.cc),
            "bcc": address_list(p.bcc),
            "reply_to": address_list(p.reply_to),
            "date": p.date,
            "in_reply_to": clean(p.in_reply_to) or None,
            "references": clean(" ".join(p.references or [])) or None,
            "direction": ctx.direction,
            "headers": clean(p.headers),
            "text_body": clean(p.text),
            "html_body": clean(p.sanitized_html if p.sanitized_html is not None
                               else sanitize_html(p.html)) if p.html else None,
            "size": p.size,
            "truncated": bool(getattr(p, "truncated", False)) or p.size > ctx.config.max_message_size,
            "defects": [clean(d) for d in p.defects or []],
            "owner_id": ctx.account.owner_id,
            "created_at": now,
        })
        insert_into(EmailSeen).execute(conn, {
            "email_id": email_id,
            "account_id": ctx.account.id,
            "folder": ctx.folder.name,
            "uid": ctx.uid,
            "uidvalidity": ctx.folder.uidvalidity,
            "seen_at": now,
        })
        attachments = []
        for att in p.attachments or ():
            # Bytes go to disk before the commit (the parser process may have written
            # them already); a rollback leaves at most an unreferenced file that
            # identical content will reuse (see storage.py).
            attachments.append({
                "email_id": email_id,
                "filename": clean(att.filename, 255),
                "content_type": clean(att.content_type, 255) or "application/octet-stream",
                "size": len(att.data),
                "sha256": att.sha256 or store_attachment(att.data),
                "content_id": clean(att.content_id, 255) or None,
                "inline": bool(att.inline),
            })
        insert_into(EmailAttachment).executemany(conn, attachments)
        ctx.email_id = email_id
        ctx.email_is_new = True
