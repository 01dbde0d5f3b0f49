"""The base of every form: no text field takes control characters.

NUL makes PostgreSQL refuse the whole statement (a 500 instead of a field error, even in a
validator's lookup query), and escapes or bells are invisible junk no one types; text areas
still take tabs and line breaks.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import StopValidation

from corpmail.validation import has_control_characters

CONTROL_CHARACTERS_ERROR = _l("Remove the control characters (such as NUL or escape) "
                              "from this field.")


def _no_control_characters(form, field) -> None:
    if isinstance(field.data, str) and has_control_characters(
        field.data, multiline=isinstance(field, TextAreaField)
    ):
        # StopValidation: the form's own validate_<field> (which may query the database
        # with the value) never sees it.
        raise StopValidation(CONTROL_CHARACTERS_ERROR)


class BaseForm(FlaskForm):
    def validate(self, extra_validators=None) -> bool:
        extra = {name: list(checks) for name, checks in (extra_validators or {}).items()}
        for name, field in self._fields.items():
            # StringField covers its subclasses: e-mail, password, hidden and text areas.
            if isinstance(field, StringField):
                extra[name] = [_no_control_characters, *extra.get(name, [])]
        return super().validate(extra)
