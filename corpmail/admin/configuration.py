"""Mail tools > Mail configuration: one form over corpmail.configuration.SETTINGS."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from corpmail.admin import bp
from corpmail.admin.forms import PostForm
from corpmail.configuration import (
    SETTINGS,
    SettingsError,
    apply_settings,
    format_value,
    setting_value,
)
from corpmail.extensions import db
from corpmail.models import MailConfiguration

GROUPS = [
    ("scanning", _l("Scanning"), "arrow-repeat"),
    ("exceptions", _l("Filters"), "funnel"),
    ("notifications", _l("Notifications"), "bell"),
    ("tickets", _l("Tickets"), "ticket-detailed"),
    ("mail_icon", _l("Mail icon"), "envelope"),
]


def _form_values(row: MailConfiguration) -> dict[str, object]:
    """What the inputs show: the stored values, lists one item per line."""
    out: dict[str, object] = {}
    for key, setting in SETTINGS.items():
        value = setting_value(row, key)
        if setting.kind == "list":
            value = "\n".join(value)
        elif setting.kind not in ("bool",):
            value = format_value(value)
        out[key] = value
    return out


@bp.route("/configuration", methods=["GET", "POST"])
def configuration():
    row = MailConfiguration.get()
    form = PostForm()
    errors: dict[str, str] = {}
    values = _form_values(row)
    if form.validate_on_submit():
        posted: dict[str, object] = {}
        for key, setting in SETTINGS.items():
            # An unticked checkbox is simply absent from the post.
            posted[key] = (
                key in request.form if setting.kind == "bool" else request.form.get(key, "")
            )
        try:
            apply_settings(row, posted)  # validates everything before changing anything
        except SettingsError as exc:
            db.session.rollback()
            errors = exc.errors
            values = posted
            flash(_("The configuration was not saved: please correct the marked fields."), "danger")
        else:
            db.session.commit()
            flash(_("Mail configuration saved. It takes effect at the next scan."), "success")
            return redirect(url_for("admin.configuration"))
    elif form.is_submitted():
        flash(_("The form expired; please try again."), "danger")
    else:
        db.session.commit()  # MailConfiguration.get() may have created the row
    groups = [
        (gid, label, icon, [s for s in SETTINGS.values() if s.group == gid])
        for gid, label, icon in GROUPS
    ]
    known = {g[0] for g in GROUPS}
    others = [s for s in SETTINGS.values() if s.group not in known]
    if others:
        groups.append(("other", _l("Other"), "sliders", others))
    return render_template(
        "admin/configuration.html",
        groups=groups,
        values=values,
        errors=errors,
        form=form,
    )
