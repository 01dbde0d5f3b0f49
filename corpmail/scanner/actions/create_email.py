"""Create e-mail (SPEC 4.1): store the message as an E-mail record with its attachments."""

from __future__ import annotations

import functools

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, insert

from corpmail.extensions import db
from corpmail.models.base import utcnow
from corpmail.models.prepared import Prepared, SerializedJSON, insert_into
from corpmail.scanner.context import ScanContext
from corpmail.scanner.email_row import JSON_COLUMNS, clean, email_columns
from corpmail.scanner.registry import Action, register


@functools.cache
def _insert_email() -> Prepared:
    """Email's INSERT ... RETURNING id; its JSON columns take JSON text (email_row)."""
    from corpmail.models import Email

    table = Email.__table__
    values = {name: bindparam(name, type_=SerializedJSON()) for name in JSON_COLUMNS}
    return Prepared(insert(table).values(values).returning(table.c.id))


@register
class CreateEmail(Action):
    name = "create-email"
    description = _l("Create e-mail: store the message as an e-mail record")
    requires = ()
    position = 10

    def run(self, ctx: ScanContext) -> None:
        from corpmail.models import EmailAttachment, EmailSeen
        from corpmail.storage import store_attachment

        p = ctx.parsed
        now = utcnow()
        conn = ctx.connection or db.session.connection()
        # the parser process made the message's columns ahead (scanner/parse_ahead.py)
        row = dict(p.columns) if p.columns is not None else email_columns(p)
        row.update(
            message_key=ctx.message_key,
            direction=ctx.direction,
            truncated=bool(p.truncated) or p.size > ctx.config.max_message_size,
            owner_id=ctx.account.owner_id,
            created_at=now,
        )
        email_id = _insert_email().scalar(conn, row)
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
