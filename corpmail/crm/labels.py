"""Translated labels for stored values (statuses, priorities, directions, record types).

Spelled out one by one so Babel's extractor finds them; templates use `|crm_label`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from corpmail.crm import bp

LABELS = {
    # ticket statuses
    "Open": _l("Open"),
    "In progress": _l("In progress"),
    "Wait for response": _l("Wait for response"),
    "Answered": _l("Answered"),
    "Closed": _l("Closed"),
    "Rejected": _l("Rejected"),
    # ticket priorities
    "Low": _l("Low"),
    "Normal": _l("Normal"),
    "High": _l("High"),
    "Urgent": _l("Urgent"),
    # lead statuses
    "New": _l("New"),
    "Contacted": _l("Contacted"),
    "Qualified": _l("Qualified"),
    "Lost": _l("Lost"),
    # e-mail directions
    "Received": _l("Received"),
    "Sent": _l("Sent"),
    "Internal": _l("Internal"),
    # record types
    "contact": _l("Contact"),
    "account": _l("Account"),
    "lead": _l("Lead"),
    "ticket": _l("Ticket"),
}


def label(value: str | None):
    """The translated label of a stored value; unknown values are shown as they are."""
    if value is None:
        return ""
    return LABELS.get(value, value)


@bp.app_template_filter("crm_label")
def _crm_label(value):
    return label(value)
