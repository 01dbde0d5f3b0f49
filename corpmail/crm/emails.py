"""E-mails: list, detail, the sanitized HTML body in a sandboxed frame, attachments."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, abort, render_template, request, send_file, url_for
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from corpmail.crm import bp
from corpmail.crm.common import RECORD_TYPES, paginate, record_search, search_text
from corpmail.crm.forms import LinkForm
from corpmail.extensions import db
from corpmail.mail.html import render_email_html
from corpmail.models import Email, EmailAttachment, EmailSeen, ScannerAccount
from corpmail.models.emails import DIRECTIONS
from corpmail.storage import attachment_path

# Raster images a browser decodes without running anything; SVG is a document, not on the list.
SAFE_INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# Types kept on download; anything else (text/html, svg, xml, javascript ...) becomes octet-stream.
SAFE_DOWNLOAD_TYPES = SAFE_INLINE_IMAGES | {
    "application/pdf", "application/zip", "application/gzip", "application/x-7z-compressed",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "text/plain", "text/csv", "text/calendar", "audio/mpeg", "video/mp4",
}
# Stored or downloaded files are never a document of the CRM origin, whatever the browser does.
_FILE_CSP = "default-src 'none'; sandbox"


@bp.route("/emails")
def emails():
    q = search_text()
    direction = request.args.get("direction", "")
    mailbox = request.args.get("mailbox", 0, type=int)
    stmt = select(Email).options(selectinload(Email.links), selectinload(Email.attachments))
    for term in q.split():
        stmt = stmt.where(or_(Email.subject.icontains(term, autoescape=True),
                              Email.from_address.icontains(term, autoescape=True),
                              Email.from_name.icontains(term, autoescape=True)))
    if direction in DIRECTIONS:
        stmt = stmt.where(Email.direction == direction)
    if mailbox:
        stmt = stmt.where(exists().where(EmailSeen.email_id == Email.id,
                                         EmailSeen.account_id == mailbox))
    stmt = stmt.order_by(func.coalesce(Email.date, Email.created_at).desc(), Email.id.desc())
    mailboxes = db.session.scalars(select(ScannerAccount).order_by(ScannerAccount.name)).all()
    return render_template("crm/emails.html", q=q, direction=direction, mailbox=mailbox,
                           directions=DIRECTIONS, mailboxes=mailboxes, pagination=paginate(stmt))


def _cid_urls(email: Email) -> dict[str, str]:
    """content-id -> URL of the inline image route, for safe raster images only."""
    out = {}
    for att in email.attachments:
        if att.content_id and _base_type(att.content_type) in SAFE_INLINE_IMAGES:
            out[att.content_id.strip().strip("<>")] = url_for(
                "crm.email_inline", email_id=email.id, attachment_id=att.id)
    return out


def rendered_html(email: Email, allow_remote: bool) -> tuple[str, bool]:
    if not email.html_body:
        return "", False
    return render_email_html(email.html_body, allow_remote=allow_remote, cid_urls=_cid_urls(email))


def bound_records(email: Email) -> list[dict]:
    """The records an e-mail is bound to, with labels and links (missing records skipped)."""
    out = []
    for link in email.links:
        kind = RECORD_TYPES.get(link.record_type)
        record = db.session.get(kind.model, link.record_id) if kind else None
        if record is not None:
            out.append({"link": link, "kind": kind, "record": record,
                        "url": kind.url(record.id)})
    return out


@bp.route("/emails/<int:email_id>")
def email_detail(email_id: int):
    email = db.get_or_404(Email, email_id)
    allow_remote = request.args.get("remote") == "1"
    _html, had_remote = rendered_html(email, allow_remote)
    # "Link to record": a type and a search text, results each with a Link button.
    link_type = request.args.get("link_type", "contact")
    if link_type not in RECORD_TYPES:
        link_type = "contact"
    link_q = (request.args.get("link_q") or "").strip()[:200]
    candidates = []
    if link_q:
        linked = {(lk.record_type, lk.record_id) for lk in email.links}
        found = db.session.scalars(record_search(link_type, link_q).limit(10)).all()
        candidates = [r for r in found if (link_type, r.id) not in linked]
    return render_template(
        "crm/email_detail.html", email=email, allow_remote=allow_remote, had_remote=had_remote,
        records=bound_records(email), link_type=link_type, link_q=link_q, candidates=candidates,
        record_types=RECORD_TYPES, form=LinkForm(),
        body_url=url_for("crm.email_body", email_id=email.id, remote=1 if allow_remote else None),
    )


@bp.route("/emails/<int:email_id>/body")
def email_body(email_id: int):
    """The sanitized HTML as its own document, framed by the detail page.

    Three layers: nh3 at store time, a CSP that runs no script and loads images only from
    here (and https: when the viewer asked for remote images), and the sandbox.
    allow-same-origin (never with allow-scripts) lets the frame send the session cookie
    for inline images and lets the page size the frame to its content.
    """
    email = db.get_or_404(Email, email_id)
    allow_remote = request.args.get("remote") == "1"
    html, _had_remote = rendered_html(email, allow_remote)
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        "<style>body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
        "font-size:14px;margin:12px;word-wrap:break-word}img{max-width:100%;height:auto}"
        "</style></head><body>" + html + "</body></html>"
    )
    img_src = "'self' data: cid:" + (" https: http:" if allow_remote else "")
    resp = Response(document, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'none'; img-src {img_src}; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; form-action 'none'; base-uri 'none'; "
        "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _base_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def content_disposition(kind: str, filename: str) -> str:
    """`attachment; filename="ascii"; filename*=UTF-8''...` (RFC 6266 / RFC 5987)."""
    name = (filename or "attachment").replace("\r", " ").replace("\n", " ").strip() or "attachment"
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    fallback = fallback.replace("\\", "_").replace('"', "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _attachment(email_id: int, attachment_id: int) -> EmailAttachment:
    att = db.session.get(EmailAttachment, attachment_id)
    if att is None or att.email_id != email_id:
        abort(404)
    return att


def _send_stored(att: EmailAttachment, mimetype: str, disposition: str) -> Response:
    try:
        path = attachment_path(att.sha256)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    resp = send_file(path, mimetype=mimetype, conditional=True, etag=att.sha256, max_age=0)
    resp.headers["Content-Disposition"] = content_disposition(disposition, att.filename)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = _FILE_CSP
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.route("/emails/<int:email_id>/attachments/<int:attachment_id>")
def email_attachment(email_id: int, attachment_id: int):
    att = _attachment(email_id, attachment_id)
    ctype = _base_type(att.content_type)
    return _send_stored(att, ctype if ctype in SAFE_DOWNLOAD_TYPES else "application/octet-stream",
                        "attachment")


@bp.route("/emails/<int:email_id>/inline/<int:attachment_id>")
def email_inline(email_id: int, attachment_id: int):
    """An inline image for a cid: reference; only raster image types are served inline."""
    att = _attachment(email_id, attachment_id)
    ctype = _base_type(att.content_type)
    if ctype not in SAFE_INLINE_IMAGES:
        abort(404)
    return _send_stored(att, ctype, "inline")
